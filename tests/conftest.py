"""Shared fixtures: every test gets its own FLOW_HOME, and backends that need a daemon are checked here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Backend

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The local test images scripts/build-test-images.sh builds; no registry is reachable from the tests.
TEST_PYTHON_IMAGE = "flow-test/python:3.11"
TEST_BUSYBOX_IMAGE = "flow-test/busybox:latest"


@pytest.fixture(autouse=True)
def flow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store, log folder and default root for each test, never the user's."""
    home = tmp_path / "flow-home"
    monkeypatch.setenv("FLOW_HOME", str(home))
    return home


def require_docker() -> None:
    """Skip without Docker, except in CI where a missing engine is a failure."""
    from backends.local import DockerBackend

    if DockerBackend.available():
        return
    message = "no Docker engine answers (scripts/docker-up.sh starts one)"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


# Public images the test pipelines name, and the local images that stand in for them here.
TEST_IMAGE_MAP = {"busybox:latest": TEST_BUSYBOX_IMAGE, "python:3.11": TEST_PYTHON_IMAGE}
IMAGE_MAP_ARGS = [
    arg for source, target in TEST_IMAGE_MAP.items() for arg in ("--image-map", f"{source}={target}")
]


def make_backend(name: str, image_map: dict[str, str] | None = None) -> Backend:
    """A backend for a test; Docker never pulls, so a missing test image fails fast and offline."""
    if name == "docker":
        require_docker()
        from backends.local import DockerBackend

        return DockerBackend(image_map={**TEST_IMAGE_MAP, **(image_map or {})}, pull="never")
    from runner.plugins import create_backend

    return create_backend(name)


@pytest.fixture(params=["process", "docker"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over the local backends."""
    name: str = request.param
    if name == "docker":
        require_docker()
    return name


@pytest.fixture
def backend(backend_name: str) -> Iterator[Backend]:
    instance = make_backend(backend_name)
    yield instance
    instance.close()
