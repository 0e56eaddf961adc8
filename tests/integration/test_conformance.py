"""The conformance suite (runner/testing/conformance.py) on each backend flow ships."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kfp import compiler

from runner.testing.conformance import BackendConformance
from tests.conftest import TEST_IMAGE_MAP, docker_containers, require_docker
from tests.integration import kfp_conformance_pipelines
from tests.s3_conformance import S3Objects, S3RootConformance


class TestProcessBackend(S3Objects, BackendConformance):
    backend = "process"
    enforces_limits = False  # a process runs under flow's own limits

    def leftovers(self, run_id: str) -> list[str]:
        """Processes that carry the run in their environment (FLOW_RUN), as the backend starts them."""
        found = subprocess.run(["pgrep", "-f", "."], capture_output=True, text=True).stdout.split()
        return [pid for pid in found if f"FLOW_RUN={run_id}".encode() in _environ(pid)]


class TestDockerBackend(S3Objects, BackendConformance):
    backend = "docker"
    image_map = TEST_IMAGE_MAP
    # None: the figures come from the task's cgroup, which outlives the container, so a task that ends at
    # once has them too.
    busy_iterations = 0

    @pytest.fixture(autouse=True)
    def _docker(self) -> None:
        require_docker()

    def leftovers(self, run_id: str) -> list[str]:
        return docker_containers(run_id)


def _environ(pid: str) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


class TestDockerBackendS3Root(S3RootConformance, TestDockerBackend):
    """The Docker backend with an s3:// root: artifacts staged through a host folder mounted at /s3."""


def test_the_suite_s_kfp_pipelines_are_what_kfp_compiles(tmp_path: Path) -> None:
    """The suite runs without kfp, so it keeps kfp's compiled text; it must be kfp 2.17.3's own."""
    for kept, pipeline in kfp_conformance_pipelines.COMPILED.items():
        compiled = tmp_path / kept.name
        compiler.Compiler().compile(pipeline, package_path=str(compiled))
        assert compiled.read_text() == kept.read_text(), (
            f"{kept.name}: run python -m tests.integration.kfp_conformance_pipelines"
        )
