"""Shared fixtures: every test gets its own FLOW_HOME, and backends that need a daemon are checked here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# The cluster scripts/local-cluster-up.sh starts; FLOW_TEST_KUBECONFIG points the tests at another one.
LOCAL_CLUSTER = Path("/var/lib/flow-cluster")
TEST_NAMESPACE = "flow"


def flow_kubeconfig() -> str | None:
    """The kubeconfig the cluster tests use: least privilege (deploy/rbac.yaml), not cluster admin."""
    given = os.environ.get("FLOW_TEST_KUBECONFIG")
    if given:
        return given
    local = LOCAL_CLUSTER / "flow.kubeconfig"
    return str(local) if local.exists() else None


def admin_kubeconfig() -> str | None:
    """For what a test sets up around flow (a secret to read): never given to flow itself."""
    given = os.environ.get("FLOW_TEST_ADMIN_KUBECONFIG")
    local = LOCAL_CLUSTER / "admin.kubeconfig"
    return given or (str(local) if local.exists() else None)


def cluster_options(image_map: dict[str, str] | None = None) -> dict[str, Any]:
    """Options of the k8s backend in the tests: the test cluster, local images only, never pulling."""
    return {
        "kubeconfig": flow_kubeconfig(),
        "namespace": TEST_NAMESPACE,
        "image_map": {**TEST_IMAGE_MAP, **(image_map or {})},
        "pull": "never",
        "files_image": TEST_BUSYBOX_IMAGE,
    }


def require_cluster() -> None:
    """Skip without a cluster, except in CI where a missing one is a failure."""
    from backends.base import BackendUnavailableError
    from backends.k8s import KubernetesBackend

    try:
        KubernetesBackend(**cluster_options()).close()
    except BackendUnavailableError as exc:
        message = f"no Kubernetes cluster answers ({exc}; scripts/local-cluster-up.sh starts one)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)


def make_backend(name: str, image_map: dict[str, str] | None = None) -> Backend:
    """A backend for a test; images are never pulled, so a missing test image fails fast and offline."""
    if name == "docker":
        require_docker()
        from backends.local import DockerBackend

        return DockerBackend(image_map={**TEST_IMAGE_MAP, **(image_map or {})}, pull="never")
    if name == "k8s":
        require_cluster()
        from backends.k8s import KubernetesBackend

        return KubernetesBackend(**cluster_options(image_map))
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
