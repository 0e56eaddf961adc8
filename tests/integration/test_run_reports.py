"""What flow says of a run of a kfp pipeline (real runs on the process backend): `flow show` names a task's
inputs as the user wrote them, `flow run` says where the outputs really are when its tasks came from the
cache, and a failing component's error is its exception's line and its own frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import runner
from runner.store import TaskState

PIPELINE = """\
from kfp import dsl


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def double(x: int) -> int:
    return 2 * x


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def say(s: str) -> str:
    return s


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def write(n: int, out: dsl.Output[dsl.Dataset]):
    with open(out.path, "w") as f:
        f.write(str(n))


@dsl.pipeline(name="named")
def named(big: int = 10):
    with dsl.If(big > 5):
        double(x=big)
    with dsl.ParallelFor([1, 2]) as item:
        say(s=f"{item} of {big}")
    write(n=big)
"""


def flow(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_show_names_inputs_as_written_and_a_cached_run_points_at_its_outputs(tmp_path: Path) -> None:
    path, root = tmp_path / "named.py", tmp_path / "root"
    path.write_text(PIPELINE)
    first = flow(tmp_path, "run", str(path), "--backend", "process", "--root", str(root))
    first_id = first.stdout.split(":")[0].removeprefix("run ")
    assert f"outputs are under {root}/{first_id}\n" in first.stdout

    rows = {line.split()[0]: line for line in flow(tmp_path, "show", first_id).stdout.splitlines()[3:]}
    assert " big=10 " in rows["condition-1"] and "pipelinechannel" not in rows["condition-1"]
    (say,) = [line for path, line in rows.items() if path.startswith("for-loop-") and "/0/say" in path]
    assert ' s="1 of 10", big=10, item=1 ' in say
    shown = json.loads(flow(tmp_path, "show", first_id, "-o", "json").stdout)
    tasks = {t["path"]: t for t in shown["tasks"]}
    assert tasks["condition-1"]["inputs"] == {"pipelinechannel--big": 10}, "the IR's names in JSON"

    again = flow(tmp_path, "run", str(path), "--backend", "process", "--root", str(root))
    second = json.loads(flow(tmp_path, "show", "latest", "-o", "json").stdout)
    assert {t["state"] for t in second["tasks"] if t["kind"] == "container"} == {"CACHED"}
    assert f"outputs are under {root}/{first_id} (cached: write)\n" in again.stdout
    assert (root / first_id / "write" / "out").read_text() == "10"
    assert not any(p.is_file() for p in (root / second["run_id"]).rglob("*"))


FAILING = """\
from kfp import dsl


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def boom(x: int) -> float:
    def ratio(v: int) -> float:
        return v / (v - v)

    return ratio(x)


@dsl.pipeline(name="failing")
def failing(x: int = 3):
    boom(x=x)
"""


def test_a_failing_kfp_component_has_its_exception_as_error_without_kfps_executor(tmp_path: Path) -> None:
    path = tmp_path / "failing.py"
    path.write_text(FAILING)
    result = runner.run(path, backend="process", root=tmp_path / "root")

    task = result.tasks["boom"]
    assert task.state == TaskState.FAILED
    error = task.error.splitlines()
    assert error[0] == "ZeroDivisionError: division by zero"
    assert error[-8:] == [  # lines of kfp's module of the component, its imports first
        "Traceback (most recent call last):",
        '  File "ephemeral_component.py", line 11, in boom',
        "    return ratio(x)",
        "           ^^^^^^^^",
        '  File "ephemeral_component.py", line 9, in ratio',
        "    return v / (v - v)",
        "           ~~^~~~~~~~~",
        "ZeroDivisionError: division by zero",
    ]
    log = task.log()
    assert "kfp/dsl/executor.py" in log and log.rstrip().endswith("ZeroDivisionError: division by zero")
