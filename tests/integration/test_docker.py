"""What only the docker backend does: images, memory limits, resource use, names and labels, --local."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from backends.base import REASON_IMAGE, REASON_OOM
from runner import run
from runner.api import open_store
from runner.store import RunState, TaskState
from runner.testing.shellsteps import PYTHON, Step, pipeline
from tests.conftest import IMAGE_MAP_ARGS, TEST_IMAGE_MAP, docker_containers, make_backend, require_docker

ALLOCATE_256_MB = "import time; block = bytearray(256 * 1024 * 1024); time.sleep(1)"


def test_a_missing_image_fails_the_task_at_once_with_the_reason(tmp_path: Path) -> None:
    text = pipeline({"ghost": Step("echo never", image="flow-test/no-such-image:1")})
    result = run(text, backend=make_backend("docker"), root=tmp_path / "root")
    assert result.state == RunState.FAILED
    with open_store() as store:
        record = store.task(result.run_id, "ghost")
    assert record is not None and record.reason == REASON_IMAGE
    assert "flow-test/no-such-image:1" in record.error and "--pull is never" in record.error


def test_a_task_over_its_memory_limit_is_reported_oom_killed(tmp_path: Path) -> None:
    step = Step(
        ALLOCATE_256_MB, image=PYTHON, command=("python3", "-c"), resources={"resourceMemoryLimit": "64Mi"}
    )
    result = run(pipeline({"hog": step}), backend=make_backend("docker"), root=tmp_path / "root")
    assert result.state == RunState.FAILED
    with open_store() as store:
        record = store.task(result.run_id, "hog")
    assert record is not None and record.reason == REASON_OOM, record.error


@pytest.mark.parametrize("read_from", ["cgroup", "sampled stats"])
def test_resource_use_is_recorded(tmp_path: Path, read_from: str) -> None:
    """From the task's parent cgroup where this machine's cgroups can be read; elsewhere (the daemon's
    systemd driver, a daemon on another machine) Docker's stats are sampled while the task runs, and a task
    that lives through a sample has figures."""
    step = Step(
        "import time; block = bytearray(96 * 1024 * 1024); time.sleep(3)",
        image=PYTHON,
        command=("python3", "-c"),
    )
    backend = make_backend("docker")
    if read_from == "sampled stats":
        backend.cgroups = None
    try:
        result = run(pipeline({"busy": step}), backend=backend, root=tmp_path / "root")
    finally:
        backend.close()
    assert result.succeeded, result.error
    with open_store() as store:
        record = store.task(result.run_id, "busy")
    assert record is not None and record.peak_memory_bytes is not None
    assert record.peak_memory_bytes > 90 * 1024 * 1024
    assert record.cpu_seconds is not None and record.cpu_seconds > 0


def test_containers_are_named_labelled_limited_and_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: dict[str, dict[str, object]] = {}
    client = docker.from_env()
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            for summary in client.api.containers(all=True, filters={"label": "flow.managed=1"}):
                with contextlib.suppress(docker.errors.NotFound):
                    seen[summary["Names"][0].lstrip("/")] = client.api.inspect_container(summary["Id"])
            time.sleep(0.1)

    resources = {
        "resourceCpuLimit": "500m",
        "resourceMemoryLimit": "256Mi",
        "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "1"},
    }
    text = pipeline({"named": Step("sleep 2", resources=resources)})
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run(text, backend=make_backend("docker"), root=tmp_path / "root")
    finally:
        finished.set()
        watcher.join()
    assert result.succeeded, result.error
    name = f"flow-{result.run_id}-named-1"
    labels = seen[name]["Config"]["Labels"]  # type: ignore[index]
    assert (labels["flow.run"], labels["flow.task"], labels["flow.attempt"]) == (result.run_id, "named", "1")
    host = seen[name]["HostConfig"]
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 256 * 1024 * 1024  # type: ignore[index]
    assert any(m["Destination"] == "/flow" for m in seen[name]["Mounts"])  # type: ignore[union-attr, index]
    # No GPU runtime on this engine: the request is dropped with a warning, not a failure.
    assert "no GPU runtime" in caplog.text
    assert docker_containers(result.run_id) == []


def test_local_uses_docker_when_an_engine_answers(tmp_path: Path) -> None:
    require_docker()
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline({"hello": Step("echo hello")}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner.cli.main",
            "run",
            str(path),
            "--local",
            "--pull",
            "never",
            *IMAGE_MAP_ARGS,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "using the Docker engine" in done.stderr
    with open_store() as store:
        record = store.run("latest")
    assert record.backend == "docker"
    assert store_task_state(record.run_id, "hello") == TaskState.SUCCEEDED


def test_local_falls_back_to_processes_without_docker(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline({"hello": Step("echo hello")}))
    env = {**__import__("os").environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no Docker engine answers" in done.stderr
    insisted = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "run", str(path), "--backend", "docker"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert insisted.returncode == 2
    assert insisted.stderr.count("\n") == 1 and "Docker" in insisted.stderr, insisted.stderr


def store_task_state(run_id: str, path: str) -> TaskState | None:
    with open_store() as store:
        record = store.task(run_id, path)
    return record.state if record else None


def test_keep_failed_keeps_the_failed_container_only(tmp_path: Path) -> None:
    require_docker()
    from backends.local import DockerBackend

    text = pipeline({"ok": Step("echo fine"), "bad": Step("echo broken; exit 1")})
    result = run(
        text,
        backend=DockerBackend(pull="never", keep_failed=True, image_map=TEST_IMAGE_MAP),
        root=tmp_path / "root",
    )
    client = docker.from_env()
    left = client.containers.list(all=True, filters={"label": f"flow.run={result.run_id}"})
    try:
        assert [c.labels["flow.task"] for c in left] == ["bad"]
        assert b"broken" in left[0].logs()
    finally:
        for container in left:
            container.remove(force=True)
