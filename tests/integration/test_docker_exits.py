"""How the docker backend learns that its containers ended and what they used, against the real daemon:
one events stream for every exit (also when it breaks and misses one), figures from each task's cgroup
however short the task (test_docker.py checks the sampled stats used where those cgroups are not this
machine's)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from backends.base import REASON_LOST
from backends.local import DockerBackend
from backends.local.cgroups import CGROUP_MOUNT
from backends.local.exits import _REPLAY_SECONDS
from runner import RunResult, run
from runner.api import open_store
from runner.store import RunRecord, RunState, TaskState
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline
from tests.conftest import TEST_IMAGE_MAP, require_docker
from tests.integration.test_lifecycle import (
    flow,
    leftovers,
    start_run,
    wait_for_running,
    write,
)

# The daemon's socket, as the Docker SDK finds it.
DOCKER_SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
WAIT_SECONDS = 60  # the longest a step of a test waits for Docker


@pytest.fixture(autouse=True)
def _docker() -> None:
    require_docker()


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    found = docker.from_env()
    yield found
    found.close()


class CuttableProxy:
    """Forwards a unix socket to the Docker daemon's. `cut` drops every connection, as a daemon that
    restarts does; while `held`, a new connection asking for events is refused, and others wait before
    they reach the daemon (as calls to a daemon that is starting again)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(64)
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def cut(self) -> None:
        with self._lock:
            dropped, self._open = self._open, []
        for sock in dropped:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                near, _ = self._listener.accept()
                threading.Thread(target=self._connect, args=(near,), daemon=True).start()

    def _connect(self, near: socket.socket) -> None:
        request = near.recv(65536)
        if not self._released.is_set() and b"/events" in request.split(b"\r\n", 1)[0]:
            near.close()
            return
        self._released.wait()
        far = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        far.connect(DOCKER_SOCKET)
        far.sendall(request)
        with self._lock:
            self._open += [near, far]
        threading.Thread(target=_pump, args=(far, near), daemon=True).start()
        _pump(near, far)


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def task_containers(client: docker.DockerClient, task: str) -> list[dict[str, str]]:
    """Docker's summaries of the task's containers (one listing: none is inspected, so one removed
    meanwhile is no error)."""
    found: list[dict[str, str]] = client.api.containers(all=True, filters={"label": f"flow.task={task}"})
    return found


def wait_for_status(
    client: docker.DockerClient, task: str, state: str, results: list[RunResult] | None = None
) -> None:
    """Until the task's container is in `state`; `results` holds the run's result once it ended."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not any(c["State"] == state for c in task_containers(client, task)):
        assert time.monotonic() < deadline, f"the container of {task} never was {state}"
        assert not results, f"the run ended first: {results[0].state} {results[0].error}"
        time.sleep(0.05)


def task_cgroups(run_id: str) -> list[Path]:
    """The parent cgroups the run's containers left on this machine, in every hierarchy."""
    pattern = f"flow/flow-{run_id}-*"
    return list(CGROUP_MOUNT.glob(f"*/{pattern}")) + list(CGROUP_MOUNT.glob(pattern))


def test_a_task_that_exits_while_the_events_stream_is_down_ends(
    tmp_path: Path, client: docker.DockerClient
) -> None:
    """The daemon's events stream breaks (as when it restarts) and stays away until the exit it missed is
    too old to be replayed: the backend asks Docker about the task once the stream is back."""
    proxy = CuttableProxy(tmp_path / "docker.sock")
    through = docker.DockerClient(base_url=f"unix://{proxy.path}")
    backend = DockerBackend(client=through, image_map=TEST_IMAGE_MAP, pull="never")
    task = f"exits-{uuid.uuid4().hex[:8]}"
    text = pipeline({task: Step("echo begun; sleep 1; echo ended")})
    results: list[RunResult] = []
    runner = threading.Thread(
        target=lambda: results.append(run(text, backend=backend, root=tmp_path / "r")), daemon=True
    )
    runner.start()
    try:
        wait_for_status(client, task, "running", results)
        proxy.hold()
        proxy.cut()
        wait_for_status(client, task, "exited")
        time.sleep(_REPLAY_SECONDS + 1)  # the exit is older than what a new stream replays
        proxy.release()
        runner.join(WAIT_SECONDS)
    finally:
        proxy.release()
        runner.join(WAIT_SECONDS)
        proxy.close()
    assert not runner.is_alive(), "the run never learnt that its task ended"
    backend.close()
    (result,) = results
    assert result.succeeded, result.error
    assert result.tasks[task].log().split() == ["begun", "ended"]
    assert task_containers(client, task) == []


def test_trivial_tasks_have_logs_and_resource_figures_and_leave_no_cgroup(
    tmp_path: Path, client: docker.DockerClient
) -> None:
    """Tasks that end at once, several starting together, a failed one kept for inspection among them."""
    steps = {f"quick-{i}": Step(f"echo quick-{i}") for i in range(6)}
    steps["fails"] = Step("echo failing; exit 4")
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never", keep_failed=True)
    try:
        result = run(pipeline(steps), backend=backend, root=tmp_path / "root", parallelism=4)
    finally:
        backend.close()
    assert result.state == RunState.FAILED and "exited with code 4" in result.tasks["fails"].error
    with open_store() as store:
        records = {path: store.task(result.run_id, path) for path in steps}
    for path, record in records.items():
        assert record is not None and record.peak_memory_bytes and record.cpu_seconds, path
        assert result.tasks[path].log().split() == [path if path != "fails" else "failing"]
    (kept,) = client.containers.list(all=True, filters={"label": f"flow.run={result.run_id}"})
    assert kept.attrs["HostConfig"]["CgroupParent"] == f"/flow/{kept.name}"
    assert task_cgroups(result.run_id) == []
    kept.remove(force=True)


def test_a_task_removed_from_outside_is_lost(tmp_path: Path, client: docker.DockerClient) -> None:
    task = f"removed-{uuid.uuid4().hex[:8]}"

    def remover() -> None:
        wait_for_status(client, task, "running")
        for container in task_containers(client, task):
            client.api.remove_container(container["Id"], force=True)

    thread = threading.Thread(target=remover)
    thread.start()
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never")
    try:
        result = run(pipeline({task: Step("sleep 60")}), backend=backend, root=tmp_path)
    finally:
        thread.join()
        backend.close()
    assert result.state == RunState.FAILED
    with open_store() as store:
        record = store.task(result.run_id, task)
    assert record is not None and record.reason == REASON_LOST
    assert "removed from outside flow" in record.error
    assert task_cgroups(result.run_id) == []


def test_a_container_that_cannot_start_fails_its_task_with_the_reason(tmp_path: Path) -> None:
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never")
    try:
        step = Step("", command=("flow-no-such-command",))
        result = run(pipeline({"ghost": step}), backend=backend, root=tmp_path / "root")
    finally:
        backend.close()
    assert result.state == RunState.FAILED
    task = result.tasks["ghost"]
    assert task.state == TaskState.FAILED and "flow-no-such-command" in task.error
    assert "\n" not in task.error


def test_flow_cancel_of_a_run_whose_engine_died_leaves_no_cgroup(tmp_path: Path) -> None:
    """The engine is killed while its task runs: `flow cancel` removes the container and its parent cgroup."""
    steps = {"held": Step(WAIT_FOR_RELEASE)}
    command = start_run(write(tmp_path, pipeline(steps)), "docker", tmp_path / "root")
    try:
        run_id = wait_for_running("held")
        deadline = time.monotonic() + WAIT_SECONDS
        while not task_cgroups(run_id):  # Docker makes it when it starts the container
            assert time.monotonic() < deadline, "the task never ran in a parent cgroup of its own"
            time.sleep(0.05)
    finally:
        os.kill(command.pid, signal.SIGKILL)
        command.wait(WAIT_SECONDS)
    assert flow("cancel", run_id).wait(WAIT_SECONDS) == 0
    assert leftovers("docker", run_id) == []
    assert task_cgroups(run_id) == []


def test_a_container_left_with_the_task_s_name_leaves_it_no_figures(
    tmp_path: Path, client: docker.DockerClient
) -> None:
    """An engine that died left a container of the name the task gets, which used much memory: flow removes
    it with its parent cgroup, so the task's peak is its own."""

    def leave_a_hog(record: RunRecord) -> None:
        name = f"flow-{record.run_id}-small-1"
        hog = client.containers.run(
            TEST_IMAGE_MAP["python:3.11"],
            ["python3", "-c", "block = bytearray(128 * 1024 * 1024)"],
            name=name,
            cgroup_parent=f"/flow/{name}",
            detach=True,
        )
        assert hog.wait(timeout=WAIT_SECONDS)["StatusCode"] == 0

    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never")
    try:
        result = run(
            pipeline({"small": Step("echo small")}), backend=backend, root=tmp_path, on_start=leave_a_hog
        )
    finally:
        backend.close()
    assert result.succeeded, result.error
    with open_store() as store:
        record = store.task(result.run_id, "small")
    assert record is not None and record.peak_memory_bytes
    assert record.peak_memory_bytes < 64 * 1024 * 1024
