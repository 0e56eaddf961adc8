"""`flow rerun RUN TASK --local`: a task of a cluster run re-run on this machine's Docker, its input
artifacts copied out of the run's volume claim into the local root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backends.k8s import DEFAULT_FILES_IMAGE
from runner import compile_to_text
from tests.conftest import (
    IMAGE_MAP_ARGS,
    TEST_BUSYBOX_IMAGE,
    TEST_NAMESPACE,
    flow_kubeconfig,
    require_cluster,
    require_docker,
)
from tests.e2e.test_k8s import flow
from tests.integration.test_rerun import produce_consume

# The pipeline's images and the volume helper's (busybox:1.36) mapped to the local test images.
IMAGES = [*IMAGE_MAP_ARGS, "--image-map", f"{DEFAULT_FILES_IMAGE}={TEST_BUSYBOX_IMAGE}", "--pull", "never"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    require_cluster()
    require_docker()
    return {**os.environ, "KUBECONFIG": flow_kubeconfig() or "", "FLOW_HOME": str(tmp_path / "home")}


def cluster_run(tmp_path: Path, env: dict[str, str], factor: int) -> tuple[str, int]:
    """Run the pipeline on the cluster: its run id and exit code."""
    ir = tmp_path / "produce-consume.yaml"
    ir.write_text(compile_to_text(produce_consume))
    params = ["-p", "seed=4", "-p", f"factor={factor}"]
    ran = flow(["run", str(ir), *params, "--cluster", "--namespace", TEST_NAMESPACE, *IMAGES], env)
    assert f"root pvc://{TEST_NAMESPACE}/flow-root" in ran.stdout, ran.stderr
    return ran.stdout.split()[1].rstrip(":"), ran.returncode


def test_a_cluster_task_reruns_on_docker_with_its_inputs_copied_out_of_the_volume(
    tmp_path: Path, env: dict[str, str]
) -> None:
    run_id, code = cluster_run(tmp_path, env, factor=3)
    assert code == 0

    again = flow(["rerun", run_id, "consume", "--local", *IMAGES], env)

    assert again.returncode == 0, again.stderr
    local_root = tmp_path / "home" / "root"
    assert f"rerun of run {run_id} task consume on docker, root {local_root}" in again.stdout
    assert (local_root / run_id / "produce" / "data").read_text() == "seed=4"
    shown = json.loads(flow(["show", "latest", "-o", "json"], env).stdout)
    assert shown["backend"] == "docker" and shown["rerun_of"] == {"run": run_id, "task": "consume"}
    original = json.loads(flow(["show", run_id, "-o", "json"], env).stdout)
    consumed = {t["path"]: t for t in original["tasks"]}["consume"]
    assert shown["outputs"]["parameters"] == consumed["outputs"] == {"Output": "seed=4|rows=4|factor=3"}


def test_a_task_that_failed_on_the_cluster_fails_the_same_way_on_docker_and_on_the_cluster(
    tmp_path: Path, env: dict[str, str]
) -> None:
    run_id, code = cluster_run(tmp_path, env, factor=-1)
    assert code == 1

    again = flow(["rerun", run_id, "consume", "--local", *IMAGES], env)

    assert again.returncode == 1
    assert "ValueError: bad factor -1" in again.stderr
    rerun_id = again.stdout.split()[1].rstrip(":")
    log = flow(["logs", rerun_id, "consume"], env).stdout
    assert "ValueError: bad factor -1" in log

    on_its_own = flow(["rerun", run_id, "consume", *IMAGES], env)  # the run's backend and volume claim

    assert on_its_own.returncode == 1
    assert f"on k8s, root pvc://{TEST_NAMESPACE}/flow-root" in on_its_own.stdout
    assert "ValueError: bad factor -1" in on_its_own.stderr


def test_a_docker_task_reruns_on_the_cluster_with_its_inputs_copied_into_the_volume(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ir = tmp_path / "produce-consume.yaml"
    ir.write_text(compile_to_text(produce_consume))
    ran = flow(["run", str(ir), "-p", "seed=5", "-p", "factor=2", "--local", *IMAGES], env)
    assert ran.returncode == 0, ran.stderr
    run_id = ran.stdout.split()[1].rstrip(":")

    again = flow(["rerun", run_id, "consume", "--cluster", "--namespace", TEST_NAMESPACE, *IMAGES], env)

    assert again.returncode == 0, again.stderr
    assert f"on k8s, root pvc://{TEST_NAMESPACE}/flow-root" in again.stdout
    shown = json.loads(flow(["show", "latest", "-o", "json"], env).stdout)
    assert shown["outputs"]["parameters"] == {"Output": "seed=5|rows=5|factor=2"}
