"""What a task on the process backend gets of the host, and what it may leave there: only an allowlisted
environment; no process of its own outlives it, a daemon that left its session and cleared its
environment included; resource limits it cannot enforce are said once per run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from backends.process import ProcessBackend
from runner import run
from runner.api import open_store
from runner.store import RunState, TaskState
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline

WAIT_SECONDS = 60
# Starts a daemon the classic way: a new session, an empty environment, its parent gone; it ignores
# SIGTERM and writes its process id where the test finds it.
START_DAEMON = (
    '( setsid env -i sh -c \'trap "" TERM; echo $$ > "$0"/daemon.pid.new; '
    'mv "$0"/daemon.pid.new "$0"/daemon.pid; exec sleep 300\' \'{{$.pipeline_root}}\' & ); '
    'while [ ! -f "{{$.pipeline_root}}/daemon.pid" ]; do sleep 0.05; done'
)


def daemon_pid(root: Path) -> int:
    return int((root / "daemon.pid").read_text())


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] != b"Z"


def test_a_daemon_a_task_started_ends_with_the_task(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = run(pipeline({"daemonize": Step(START_DAEMON)}), backend=ProcessBackend(), root=root)
    assert result.succeeded, result.error
    assert not alive(daemon_pid(root)), "the task's daemon outlived it"


def flow(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "runner.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=WAIT_SECONDS)


def start_held_daemon(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`flow run` of a task that starts a daemon and waits for `release`; the engine and the daemon's id."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline({"held": Step(f"{START_DAEMON}; {WAIT_FOR_RELEASE}")}))
    root = tmp_path / "root"
    command = [sys.executable, "-m", "runner.cli.main", "run", str(path), "--backend", "process"]
    engine = subprocess.Popen([*command, "--root", str(root)])
    deadline = time.monotonic() + WAIT_SECONDS
    while not (root / "daemon.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = daemon_pid(root)
    assert alive(pid)
    return engine, pid


def latest_run() -> str:
    with open_store() as store:
        return store.runs(1)[0].run_id


def test_cancel_stops_a_daemon_and_resume_finishes(tmp_path: Path) -> None:
    engine, pid = start_held_daemon(tmp_path)
    engine.send_signal(signal.SIGINT)
    assert engine.wait(WAIT_SECONDS) == 130
    assert not alive(pid), "cancel left the task's daemon running"
    run_id = latest_run()
    with open_store() as store:
        assert store.run(run_id).state == RunState.CANCELLED

    root = tmp_path / "root"
    (root / "daemon.pid").unlink()
    (root / "release").touch()
    resumed = flow("resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    assert not alive(daemon_pid(root))


def test_flow_cancel_stops_the_daemon_of_a_task_whose_engine_died(tmp_path: Path) -> None:
    engine, pid = start_held_daemon(tmp_path)
    engine.kill()
    engine.wait(WAIT_SECONDS)
    cancelled = flow("cancel", latest_run())
    assert cancelled.returncode == 0, cancelled.stderr
    assert not alive(pid), "the task's daemon outlived flow cancel"


def test_a_task_gets_only_the_allowed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "FLOW_STORE": f"sqlite:///{tmp_path}/flow.db",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "KUBECONFIG": "/somewhere/kubeconfig",
        "PGPASSWORD": "pg-secret",
        "PYTHONPATH": "/somewhere/else",
    }
    for name, value in {**secrets, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}.items():
        monkeypatch.setenv(name, value)
    document = yaml.safe_load(pipeline({"look": Step("env")}))
    document["deploymentSpec"]["executors"]["exec-look"]["container"]["env"] = [
        {"name": "OWN", "value": "mine"}
    ]
    result = run(yaml.safe_dump(document), backend=ProcessBackend(), root=tmp_path / "root")
    assert result.succeeded, result.error
    seen = dict(line.split("=", 1) for line in result.tasks["look"].log().splitlines() if "=" in line)
    assert not set(secrets) & set(seen)
    assert not {"aws-secret", "pg-secret"} & set(seen.values())
    assert seen["OWN"] == "mine" and seen["LC_ALL"] == seen["LANG"] == "C.UTF-8" and seen["TMPDIR"] == "/tmp"
    assert seen["HOME"] == os.environ["HOME"]
    assert seen["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert seen["FLOW_RUN"] == result.run_id and seen["FLOW_TASK"] == "look"
    # Every backend's tasks get PYTHONUNBUFFERED from the engine; sh adds PWD, SHLVL and _ of its own.
    own = {"OWN", "FLOW_RUN", "FLOW_TASK", "PYTHONUNBUFFERED", "PWD", "SHLVL", "_"}
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", *own}
    assert set(seen) <= allowed, set(seen) - allowed


def test_unenforced_limits_are_said_once_per_run_and_the_peak_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limits = {"resourceMemoryLimit": "64Mi", "resourceCpuLimit": "500m"}
    hog = "import time; block = bytearray(96 * 1024 * 1024); time.sleep(0.2)"
    steps = {
        name: Step(hog, command=(sys.executable, "-c"), resources=dict(limits))
        for name in ("first", "second")
    }
    with caplog.at_level(logging.WARNING, logger="backends.process"):
        result = run(pipeline(steps), backend=ProcessBackend(), root=tmp_path / "root")
    assert result.succeeded, result.error
    said = [r.getMessage() for r in caplog.records if r.name == "backends.process"]
    assert len(said) == 2, said
    assert any("does not enforce memory limits" in m for m in said)
    assert any("does not enforce CPU limits" in m for m in said)
    assert all(result.run_id in m for m in said)
    with open_store() as store:
        for name in steps:
            record = store.task(result.run_id, name)
            assert record is not None and record.state == TaskState.SUCCEEDED
            assert record.peak_memory_bytes is not None and record.peak_memory_bytes > 90 * 1024 * 1024


def test_a_command_not_on_the_tasks_path_fails_the_task_at_once(tmp_path: Path) -> None:
    step = Step("", command=("flow-no-such-command",))
    result = run(pipeline({"ghost": step}), backend=ProcessBackend(), root=tmp_path / "root")
    assert result.state == RunState.FAILED
    assert "cannot start 'flow-no-such-command'" in result.tasks["ghost"].error
