"""Components that misbehave, on the process and docker backends: killed from outside, malformed or escaping
outputs, huge values, bytes that are not UTF-8. Each ends in a recorded outcome with a one-line reason, never
a crash of flow. (Malformed IR is fuzzed in tests/unit/test_fuzz_ir.py; the engine's side of malformed
executor output in tests/unit/test_engine.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from runner import RunResult, run
from runner.store import RunRecord, RunState, TaskState
from runner.testing.shellsteps import Step, pipeline
from tests.conftest import make_backend

WAIT_SECONDS = 60
HUGE = 1_000_000
# Holds the task until the test kills it; after the kill, a second attempt finds `killed` and succeeds.
HOLD = (
    'if [ -f "{{$.pipeline_root}}/killed" ]; then echo second attempt; exit 0; fi; '
    'echo $$ > "{{$.pipeline_root}}/pid"; sleep 120'
)


def with_outputs(
    text: str, task: str, *, parameters: tuple[str, ...] = (), artifacts: tuple[str, ...] = ()
) -> str:
    """The pipeline with outputs declared on `task`'s component, their paths passed to its script as
    $0, $1... (parameters first), and its executor output file as the last."""
    doc = yaml.safe_load(text)
    outputs: dict[str, Any] = {}
    if parameters:
        outputs["parameters"] = {name: {"parameterType": "STRING"} for name in parameters}
    if artifacts:
        kind = {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}
        outputs["artifacts"] = {name: {"artifactType": kind} for name in artifacts}
    doc["components"][f"comp-{task}"]["outputDefinitions"] = outputs
    doc["deploymentSpec"]["executors"][f"exec-{task}"]["container"]["command"] += [
        *(f"{{{{$.outputs.parameters['{name}'].output_file}}}}" for name in parameters),
        *(f"{{{{$.outputs.artifacts['{name}'].path}}}}" for name in artifacts),
        "{{$.outputs.output_file}}",
    ]
    return str(yaml.safe_dump(doc))


def run_on(backend_name: str, text: str, root: Path, **kwargs: Any) -> RunResult:
    backend = make_backend(backend_name)
    try:
        return run(text, backend=backend, root=root, **kwargs)
    finally:
        backend.close()


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


# -- killed from outside -------------------------------------------------------------------------------------


def kill_from_outside(backend_name: str, root: Path, run_id: str) -> None:
    """Once the held task runs, let its next attempt through and SIGKILL it as `docker kill` or `kill -9`."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (root / "pid").exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.1)
    (root / "killed").write_text("")
    if backend_name == "docker":
        client = docker.from_env()
        (container,) = client.containers.list(filters={"label": f"flow.run={run_id}"})
        container.kill()
        client.close()
    else:
        os.kill(int((root / "pid").read_text()), signal.SIGKILL)


def run_killing_from_outside(backend_name: str, root: Path, retries: int) -> RunResult:
    started: list[RunRecord] = []
    ready = threading.Event()

    def on_start(record: RunRecord) -> None:
        started.append(record)
        ready.set()

    def killer() -> None:
        ready.wait(WAIT_SECONDS)
        kill_from_outside(backend_name, root, started[0].run_id)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        return run_on(backend_name, pipeline({"hold": Step(HOLD, retries=retries)}), root, on_start=on_start)
    finally:
        thread.join()


def test_a_task_killed_from_outside_fails_with_the_reason(backend_name: str, tmp_path: Path) -> None:
    result = run_killing_from_outside(backend_name, tmp_path / "root", retries=0)
    assert result.state == RunState.FAILED
    task = result.tasks["hold"]
    assert task.state == TaskState.FAILED and task.attempts == 1
    assert "killed by SIGKILL" in task.error


def test_a_task_killed_from_outside_is_retried_per_its_policy(backend_name: str, tmp_path: Path) -> None:
    result = run_killing_from_outside(backend_name, tmp_path / "root", retries=1)
    assert result.succeeded, result.error
    task = result.tasks["hold"]
    assert task.attempts == 2
    assert "second attempt" in task.log()


# -- what a component reports --------------------------------------------------------------------------------


def test_malformed_executor_output_fails_the_task_with_a_one_line_reason(
    backend_name: str, tmp_path: Path
) -> None:
    text = with_outputs(pipeline({"bad": Step('echo "{not json" > "$1"')}), "bad", parameters=("n",))
    result = run_on(backend_name, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    error = result.tasks["bad"].error
    assert one_line(error), error
    assert "malformed executor_output.json" in error


@pytest.mark.parametrize("uri", ["/etc/passwd", "../../x", "/flow/../etc/passwd"])
def test_an_output_artifact_reported_outside_the_root_is_refused(
    backend_name: str, uri: str, tmp_path: Path
) -> None:
    reported = {"artifacts": {"data": {"artifacts": [{"name": "data", "uri": uri, "metadata": {}}]}}}
    script = f'echo made > "$0"; echo \'{json.dumps(reported)}\' > "$1"'
    steps = {"escape": Step(script), "use": Step("echo never", after=("escape",))}
    text = with_outputs(pipeline(steps), "escape", artifacts=("data",))
    result = run_on(backend_name, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    task = result.tasks["escape"]
    assert one_line(task.error), task.error
    assert "outside the pipeline root" in task.error
    assert task.artifacts == {}  # nothing recorded that points outside
    assert result.tasks["use"].state == TaskState.SKIPPED_UPSTREAM_FAILED


@pytest.mark.parametrize("name", ["../x", "a/b", ".."])
@pytest.mark.parametrize("kind", ["parameters", "artifacts"])
def test_output_names_that_are_paths_are_refused_at_load(name: str, kind: str, tmp_path: Path) -> None:
    text = with_outputs(pipeline({"step": Step("true")}), "step", **{kind: ("ok",)})
    text = text.replace("ok:", f"'{name}':").replace("['ok']", f"['{name}']")
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    command = [sys.executable, "-m", "runner.cli.main", "run", str(path), "--backend", "process"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"output name {name!r} is not a safe path segment" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir())


def test_a_huge_parameter_value_passes_or_fails_cleanly(backend_name: str, tmp_path: Path) -> None:
    steps = {
        "make": Step(f"head -c {HUGE} /dev/zero | tr '\\0' a > \"$0\""),
        # Over Linux's limit of one argument (128 KiB): the task may not start, but flow must say why.
        "use": Step('echo "${#0}"', after=("make",)),
    }
    doc = yaml.safe_load(with_outputs(pipeline(steps), "make", parameters=("s",)))
    doc["components"]["comp-use"]["inputDefinitions"] = {"parameters": {"s": {"parameterType": "STRING"}}}
    doc["root"]["dag"]["tasks"]["use"]["inputs"] = {
        "parameters": {"s": {"taskOutputParameter": {"producerTask": "make", "outputParameterKey": "s"}}}
    }
    doc["deploymentSpec"]["executors"]["exec-use"]["container"]["command"].append(
        "{{$.inputs.parameters['s']}}"
    )
    result = run_on(backend_name, yaml.safe_dump(doc), tmp_path / "root")
    assert result.tasks["make"].state == TaskState.SUCCEEDED
    assert result.tasks["make"].outputs["s"] == "a" * HUGE
    use = result.tasks["use"]
    if use.state == TaskState.SUCCEEDED:
        assert use.log().strip() == str(HUGE)
    else:
        assert result.state == RunState.FAILED and use.state == TaskState.FAILED
        assert use.error and "Traceback" not in use.error


def test_bytes_not_utf8_are_kept_in_logs_and_shown_replaced(backend_name: str, tmp_path: Path) -> None:
    result = run_on(
        backend_name, pipeline({"chatty": Step("printf 'before \\377\\376 after\\n'")}), tmp_path / "root"
    )
    assert result.succeeded, result.error
    assert b"before \xff\xfe after" in Path(result.tasks["chatty"].log_path).read_bytes()
    command = [sys.executable, "-m", "runner.cli.main", "logs", result.run_id, "chatty"]
    shown = subprocess.run(command, capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "before \ufffd\ufffd after" in shown.stdout.decode("utf-8")
