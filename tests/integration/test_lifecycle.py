"""A run's life through the `flow` command on each local backend: Ctrl-C, SIGTERM and `flow cancel` leave
nothing behind, `flow resume` finishes the run, `flow logs -f` follows a task. (What any backend must do
through the API is in the conformance suite, runner/testing/conformance.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.api import open_store
from runner.store import RunState, TaskState
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline
from tests.conftest import IMAGE_MAP_ARGS, docker_containers

WAIT_SECONDS = 60


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def flow(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )  # type: ignore[call-overload]


def start_run(path: Path, backend_name: str, root: Path) -> subprocess.Popen[str]:
    """`flow run` in the background, test images standing in for the public ones."""
    return flow(
        "run", str(path), "--backend", backend_name, "--pull", "never", *IMAGE_MAP_ARGS, "--root", str(root)
    )


def wait_for_running(task: str) -> str:
    """The id of the latest run once `task` in it is running."""
    deadline = time.monotonic() + WAIT_SECONDS
    with open_store() as store:
        while time.monotonic() < deadline:
            runs = store.runs(1)
            if runs:
                record = store.task(runs[0].run_id, task)
                if record is not None and record.state == TaskState.RUNNING:
                    return runs[0].run_id
            time.sleep(0.2)
    raise AssertionError(f"task {task} never started")


def leftovers(backend_name: str, run_id: str) -> list[str]:
    """Containers of the run (docker), or processes still running the held task (process)."""
    if backend_name == "docker":
        return docker_containers(run_id)
    found = subprocess.run(["pgrep", "-f", 'release" ]; do sleep'], capture_output=True, text=True)
    return [pid for pid in found.stdout.split() if f"FLOW_RUN={run_id}".encode() in environ(pid)]


def environ(pid: str) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def wait_for_leftovers(backend_name: str, run_id: str) -> None:
    """Until the run's task runs in the backend: the store says RUNNING before the engine starts it (the
    engine records what it does before it does it), so a killed engine may not have started it yet."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not leftovers(backend_name, run_id):
        assert time.monotonic() < deadline, f"run {run_id}'s task never ran in the backend"
        time.sleep(0.2)


def assert_nothing_left(backend_name: str, run_id: str) -> None:
    deadline = time.monotonic() + 10
    while leftovers(backend_name, run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(backend_name, run_id) == []


HELD = {"first": Step("echo first"), "held": Step(WAIT_FOR_RELEASE, after=("first",))}


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "flow cancel"])
def test_cancel_leaves_nothing_and_resume_finishes(backend_name: str, tmp_path: Path, how: str) -> None:
    root = tmp_path / "root"
    command = start_run(write(tmp_path, pipeline(HELD)), backend_name, root)
    run_id = wait_for_running("held")
    if how == "flow cancel":
        canceller = flow("cancel", run_id)
        assert canceller.wait(WAIT_SECONDS) == 0, canceller.stdout.read() if canceller.stdout else ""
    else:
        command.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
    assert command.wait(WAIT_SECONDS) == 130, command.stdout.read() if command.stdout else ""
    assert_nothing_left(backend_name, run_id)
    with open_store() as store:
        assert store.run(run_id).state == RunState.CANCELLED
        first_before = store.task(run_id, "first")
    assert first_before is not None and first_before.state == TaskState.SUCCEEDED

    (root / "release").touch()
    resumed = flow("resume", run_id, "--pull", "never", *IMAGE_MAP_ARGS)
    output = resumed.stdout.read() if resumed.stdout else ""
    assert resumed.wait(WAIT_SECONDS) == 0, output
    with open_store() as store:
        assert store.run(run_id).state == RunState.SUCCEEDED
        first_after, held = store.task(run_id, "first"), store.task(run_id, "held")
    assert first_after is not None and held is not None
    assert (first_after.attempts, first_after.finished_at) == (1, first_before.finished_at), "first ran again"
    assert held.state == TaskState.SUCCEEDED and held.attempts == 2


def test_logs_follow_a_running_task(backend_name: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    script = "for i in $(seq 1 30); do echo tick-$i; sleep 0.05; done; " + WAIT_FOR_RELEASE
    command = start_run(write(tmp_path, pipeline({"ticker": Step(script)})), backend_name, root)
    run_id = wait_for_running("ticker")
    follower = flow("logs", run_id, "ticker", "-f")
    time.sleep(1)
    assert follower.poll() is None, "logs -f returned while the task was still running"
    (root / "release").touch()
    out = follower.stdout.read() if follower.stdout else ""
    assert follower.wait(WAIT_SECONDS) == 0
    assert command.wait(WAIT_SECONDS) == 0
    assert "tick-1\n" in out and "tick-30\n" in out and "released" in out


def test_flow_cancel_of_a_run_whose_engine_died(backend_name: str, tmp_path: Path) -> None:
    command = start_run(write(tmp_path, pipeline(HELD)), backend_name, tmp_path / "root")
    run_id = wait_for_running("held")
    os.kill(command.pid, signal.SIGKILL)
    command.wait(WAIT_SECONDS)
    canceller = flow("cancel", run_id)
    assert canceller.wait(WAIT_SECONDS) == 0
    assert_nothing_left(backend_name, run_id)
    with open_store() as store:
        assert store.run(run_id).state == RunState.CANCELLED
        held = store.task(run_id, "held")
    assert held is not None and held.state == TaskState.CANCELLED


def test_an_engine_on_another_machine_is_not_taken_for_dead(
    backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a store a team shares, a run's engine may live on another machine, where its process id means
    nothing here: resume refuses, and cancel asks that engine first, then stops the tasks itself."""
    from click.testing import CliRunner

    from runner.cli import lifecycle
    from runner.cli.main import main

    command = start_run(write(tmp_path, pipeline(HELD)), backend_name, tmp_path / "root")
    run_id = wait_for_running("held")
    wait_for_leftovers(backend_name, run_id)
    with open_store() as store:
        assert store.run(run_id).engine_host == socket.gethostname()
    os.kill(command.pid, signal.SIGKILL)  # its tasks go on, as they would with the other machine's engine
    command.wait(WAIT_SECONDS)
    with open_store() as store:
        record = store.run(run_id)
        record.engine_host = "another-machine"
        store.save_run_progress(record)

    resumer = flow("resume", run_id)
    assert resumer.wait(WAIT_SECONDS) == 2
    assert resumer.stdout is not None
    assert f"engine process {command.pid} on another-machine" in resumer.stdout.read()
    assert leftovers(backend_name, run_id) != [], "a refused resume leaves the run's tasks alone"

    monkeypatch.setattr(lifecycle, "_CANCEL_WAIT_SECONDS", 1)
    cancelled = CliRunner().invoke(main, ["cancel", run_id])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"engine process {command.pid} on another-machine did not answer" in cancelled.output
    assert_nothing_left(backend_name, run_id)
    with open_store() as store:
        assert store.run(run_id).state == RunState.CANCELLED
