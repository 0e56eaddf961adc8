"""Pipelines written with flow's SDK run on flow's backends, under kfp.local, and next to kfp's components."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import runner
from runner.dsl import compile_to_text, component, load_component, pipeline
from runner.dsl.source import find_pipeline
from runner.store import RunState, TaskState
from tests.conftest import make_backend
from tests.integration import sdk_pipelines as sp
from tests.unit import test_dsl_artifact_loops as artifact_loops

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "iris"


def run_ok(target: Any, backend_name: str, root: Path, **params: Any) -> runner.RunResult:
    text = compile_to_text(target)
    result = runner.run(text, backend=make_backend(backend_name), params=params, root=root)
    if result.state != RunState.SUCCEEDED:
        logs = "\n".join(
            f"--- {t.path} ({t.state.value}): {t.error}\n{t.log()}" for t in result.tasks.values()
        )
        pytest.fail(f"run ended {result.state.value}: {result.error}\n{logs}")
    return result


def test_parameters_artifacts_and_metrics_flow_between_tasks(backend_name: str, tmp_path: Path) -> None:
    result = run_ok(sp.basics, backend_name, tmp_path, n=5, scale=2.0)

    # 0 + 2 + 4 + 6 + 8
    assert result.outputs == {"total": 20.0, "mean": 4.0}
    made = result.tasks["make-numbers"]
    assert made.outputs == {"count": 5, "mean": 4.0}
    numbers = made.artifacts["numbers"]
    assert numbers.path.read_text().splitlines() == ["0.0", "2.0", "4.0", "6.0", "8.0"]
    assert numbers.metadata == {"label": "nums"}
    fitted = result.tasks["fit"]
    assert fitted.artifacts["model"].path.read_text() == "total=20.0"
    assert fitted.artifacts["model"].metadata == {"framework": "sum"}
    assert fitted.artifacts["metrics"].metadata == {"count": 5, "label_seen": True}
    assert result.tasks["describe-options"].outputs == {"Output": "[('A', 1)] ['X', 'Y'] NONE"}


def test_control_flow_runs_as_compiled(backend_name: str, tmp_path: Path) -> None:
    data = tmp_path / "root" / "imported.txt"
    data.parent.mkdir(parents=True)
    data.write_text("from outside")
    result = run_ok(sp.control_flow, backend_name, tmp_path / "root", x=2, uri=str(data))
    states = {path: task.state for path, task in result.tasks.items()}

    branches = "exit-handler-1/condition-branches-2"
    assert states[f"{branches}/condition-3"] == TaskState.SKIPPED_CONDITION  # x == 2 is not > 2
    assert states[f"{branches}/condition-4"] == TaskState.SUCCEEDED
    assert result.tasks[f"{branches}/condition-4/word-2"].outputs == {"Output": "two"}
    assert states[f"{branches}/condition-5"] == TaskState.SKIPPED_CONDITION
    assert result.outputs == {"squares": [1, 2, 3]}
    assert result.tasks["exit-handler-1/add-up"].outputs == {"Output": 6}
    assert result.tasks["exit-handler-1/join-files"].outputs == {"Output": "10,20,30"}
    ran_if = [
        p for p, s in states.items() if p.startswith("exit-handler-1/for-loop-8/") and p.endswith("/word-4")
    ]
    assert ran_if == ["exit-handler-1/for-loop-8/1/condition-9/word-4"]  # only the item 2
    assert result.tasks["exit-handler-1/read-text"].outputs == {"Output": "from outside"}
    assert result.tasks["exit-handler-1/shout"].outputs == {"out": "QUIET"}
    assert result.tasks["exit-handler-1/sdk-inner"].outputs == {"Output": "nested"}
    assert result.tasks["final-state"].outputs == {"Output": "COMPLETE"}


@pytest.mark.parametrize(("x", "expected"), [(5, "big"), (0, "small")])
def test_oneof_passes_on_the_branch_that_ran(
    backend_name: str, tmp_path: Path, x: int, expected: str
) -> None:
    result = run_ok(sp.one_of, backend_name, tmp_path, x=x)
    assert result.outputs == {"Output": expected}
    assert result.tasks["word-3"].outputs == {"Output": expected}


def test_a_failing_component_shows_its_traceback_from_its_own_file_and_line(
    backend_name: str, tmp_path: Path
) -> None:
    """The traceback starts in the function, at the line of sdk_pipelines.py that raised (the source line
    from the embedded code); the task's error is the exception's line, then that traceback."""
    result = runner.run(compile_to_text(sp.failing), backend=make_backend(backend_name), root=tmp_path)

    task = result.tasks["fail-loudly"]
    assert result.state == RunState.FAILED and task.state == TaskState.FAILED
    lines, first = inspect.getsourcelines(sp.fail_loudly.python_func)
    raised = first + next(i for i, line in enumerate(lines) if "raise" in line)
    traceback = [
        "Traceback (most recent call last):",
        f'  File "tests/integration/sdk_pipelines.py", line {raised}, in fail_loudly',
        '    raise ValueError(f"boom: {message}")',
        "ValueError: boom: on purpose",
    ]
    assert task.log().splitlines()[-4:] == traceback
    assert task.error.splitlines() == ["ValueError: boom: on purpose", *traceback]
    assert result.error.splitlines()[0] == "task 'fail-loudly' failed: ValueError: boom: on purpose"


def test_iris_written_with_the_sdk_matches_the_ir_example(backend_name: str, tmp_path: Path) -> None:
    sdk = run_ok(find_pipeline(EXAMPLES / "pipeline.py"), backend_name, tmp_path, seed=3, model_type="tree")
    ir = runner.run(
        EXAMPLES / "pipeline.yaml", backend="process", params={"seed": 3, "model_type": "tree"}, root=tmp_path
    )
    assert ir.succeeded, ir.error

    assert sdk.outputs["accuracy"] == pytest.approx(ir.outputs["accuracy"])
    assert 0.8 < sdk.outputs["accuracy"] <= 1.0
    for split in ("train", "test"):
        mine, theirs = sdk.tasks["prepare-data"].artifacts[split], ir.tasks["prepare-data"].artifacts[split]
        assert mine.digest == theirs.digest, f"{split} split differs"
    metrics = sdk.tasks["evaluate"].artifacts["metrics"]
    assert metrics.metadata["accuracy"] == pytest.approx(sdk.outputs["accuracy"])
    assert json.loads(metrics.path.read_text())["total"] == 45
    assert sdk.tasks["train"].artifacts["model"].metadata == {"framework": "scikit-learn"}


def test_flow_runs_a_python_file_from_the_command_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "runner.cli.main", "run", str(EXAMPLES / "pipeline.py")]
    done = subprocess.run(
        [*command, "--backend", "process", "-p", "model_type=tree", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "iris-classifier on process" in done.stdout
    assert "output accuracy = 0.9" in done.stdout


def kfp_local_run(text: str, root: Path, **params: Any) -> Any:
    from kfp import components, local

    path = root / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    return components.load_component_from_file(str(path))(**params)


def test_kfp_local_runs_the_flow_compiled_pipeline_with_the_same_outputs(tmp_path: Path) -> None:
    text = compile_to_text(sp.basics)
    on_flow = runner.run(text, backend="process", params={"n": 3, "scale": 1.5}, root=tmp_path / "flow")
    assert on_flow.succeeded, on_flow.error
    on_kfp = kfp_local_run(text, tmp_path / "kfp", n=3, scale=1.5)

    assert dict(on_kfp.outputs) == on_flow.outputs == {"total": 4.5, "mean": 1.5}
    kfp_numbers = next((tmp_path / "kfp").rglob("make-numbers/numbers"))
    assert kfp_numbers.read_text() == on_flow.tasks["make-numbers"].artifacts["numbers"].path.read_text()


@pytest.mark.parametrize(
    ("target", "params"),
    [(sp.one_of, {"x": 5}), (sp.one_of, {"x": 0}), (sp.fan_out, {"items": [4, 5, 6]})],
    ids=["oneof-big", "oneof-small", "fan-out"],
)
def test_kfp_local_runs_flow_compiled_control_flow_with_the_same_outputs(
    tmp_path: Path, target: Any, params: dict[str, Any]
) -> None:
    text = compile_to_text(target)
    on_flow = runner.run(text, backend="process", params=params, root=tmp_path / "flow")
    assert on_flow.succeeded, on_flow.error
    on_kfp = kfp_local_run(text, tmp_path / "kfp", **params)
    assert on_kfp.output == on_flow.outputs["Output"]


@component
def double(x: int) -> int:
    return 2 * x


@pipeline(name="one-double")
def one_double(x: int = 4) -> int:
    return double(x=x).output


def test_kfp_local_runs_a_flow_component_file(tmp_path: Path) -> None:
    assert kfp_local_run(compile_to_text(double), tmp_path / "kfp", x=21).output == 42


def kfp_component_file(tmp_path: Path) -> Path:
    """A lightweight component compiled by kfp (in a subprocess: kfp reads real annotations)."""
    code = (
        "from kfp import compiler, dsl\n"
        "from kfp.dsl import Dataset, Output\n"
        "@dsl.component(base_image='python:3.11', install_kfp_package=False)\n"
        "def triple(x: int, out: Output[Dataset]) -> int:\n"
        "    with open(out.path, 'w') as handle:\n"
        "        handle.write(str(3 * x))\n"
        "    return 3 * x\n"
        f"compiler.Compiler().compile(triple, {str(tmp_path / 'triple.yaml')!r})\n"
    )
    script = tmp_path / "triple.py"  # kfp reads the function's source from its file
    script.write_text(code)
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=120)
    return tmp_path / "triple.yaml"


def test_a_kfp_compiled_component_runs_inside_a_flow_pipeline(backend_name: str, tmp_path: Path) -> None:
    triple = load_component(kfp_component_file(tmp_path))

    @pipeline(name="mixed")
    def mixed(x: int = 5) -> int:
        tripled = triple(x=x)
        return double(x=tripled.outputs["Output"]).output

    result = run_ok(mixed, backend_name, tmp_path / "root", x=7)
    assert result.outputs == {"Output": 42}
    assert result.tasks["triple"].outputs == {"Output": 21}
    assert result.tasks["triple"].artifacts["out"].path.read_text() == "21"


@component(packages_to_install=["PyYAML"])
def yaml_dump(x: int) -> str:
    import yaml

    return str(yaml.safe_dump({"x": x}).strip())


@pipeline(name="with-pip")
def with_pip(x: int = 2) -> str:
    return yaml_dump(x=x).output


def test_packages_to_install_are_installed_first(backend_name: str, tmp_path: Path) -> None:
    # PyYAML is in flow's environment and in the test image, so pip has nothing to download (no network).
    result = run_ok(with_pip, backend_name, tmp_path, x=3)
    assert result.outputs == {"Output": "x: 3"}


def test_loops_over_artifacts_collect_out_of_an_if_and_return_an_artifact(
    backend_name: str, tmp_path: Path
) -> None:
    result = run_ok(sp.artifact_loops, backend_name, tmp_path, ns=[1, 2, 3])

    assert result.outputs == {"everything": "10,20,30", "above_ten": "20,30"}
    seventy = result.artifacts["seventy"]
    assert isinstance(seventy, Path) and seventy.read_text() == "70"
    states = {path: task.state for path, task in result.tasks.items() if path.startswith("for-loop-1/")}
    assert states["for-loop-1/0/condition-2"] == TaskState.SKIPPED_CONDITION  # the item "10"
    assert sorted(p for p, s in states.items() if p.endswith("/word") and s == TaskState.SUCCEEDED) == [
        "for-loop-1/1/condition-2/word",
        "for-loop-1/2/condition-2/word",
    ]
    assert result.tasks["sdk-read-all/for-loop-1/2/read-text"].outputs == {"Output": "30"}


@pytest.mark.parametrize("name", ["over-output", "returns-artifact"])
def test_kfp_local_runs_flow_compiled_artifact_loops_with_the_same_outputs(tmp_path: Path, name: str) -> None:
    # kfp.local cannot run collect-if, not even as kfp compiles it (an iteration whose If is false fails).
    text = compile_to_text(artifact_loops.build(runner)[name])
    on_flow = runner.run(text, backend="process", root=tmp_path / "flow")
    assert on_flow.succeeded, on_flow.error
    on_kfp = kfp_local_run(text, tmp_path / "kfp")

    if name == "over-output":
        assert on_kfp.output == on_flow.outputs["Output"] == "1,2,3"
    else:
        flow_file = on_flow.artifacts["Output"]
        assert isinstance(flow_file, Path)
        assert Path(on_kfp.output.path).read_text() == flow_file.read_text() == "4"


@pytest.mark.parametrize("name", ["over-output", "collect-if", "returns-artifact"])
def test_the_kfp_compiled_artifact_loops_run_on_flow_as_the_flow_compiled(tmp_path: Path, name: str) -> None:
    from kfp import compiler, dsl

    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(artifact_loops.build(dsl)[name], str(path))
    theirs = runner.run(path, backend="process", root=tmp_path / "kfp")  # kfp's executor: from this Python
    mine = runner.run(compile_to_text(artifact_loops.build(runner)[name]), backend="process", root=tmp_path)
    assert theirs.succeeded and mine.succeeded, theirs.error or mine.error

    assert (
        theirs.outputs
        == mine.outputs
        == {"over-output": {"Output": "1,2,3"}, "collect-if": {"Output": "2,3"}}.get(name, {})
    )
    contents = [{k: Path(str(p)).read_text() for k, p in r.artifacts.items()} for r in (theirs, mine)]
    assert contents[0] == contents[1] == ({"Output": "4"} if name == "returns-artifact" else {})


MOVABLE = """\
from runner import component, pipeline


@component
def twice(x: int) -> int:
    return 2 * x


@pipeline(name="movable")
def movable(x: int = 2) -> None:
    twice(x=x)
"""


def test_moving_a_component_within_its_file_keeps_its_cache(tmp_path: Path) -> None:
    """The command names the function's line (for tracebacks), which the cache key leaves out: lines added
    above a function keep its cache; a change to its code misses it."""
    path, root = tmp_path / "movable.py", tmp_path / "root"

    def run_file(text: str) -> tuple[TaskState, str]:
        path.write_text(text)
        result = runner.run(path, backend="process", root=root)
        assert result.succeeded, result.error
        (executor,) = yaml.safe_load(compile_to_text(find_pipeline(path)))["deploymentSpec"][
            "executors"
        ].values()
        return result.tasks["twice"].state, executor["container"]["command"][-1]

    first, code = run_file(MOVABLE)
    moved, moved_code = run_file('"""Doubles."""\n\n' + MOVABLE)
    changed, _ = run_file(MOVABLE.replace("2 * x", "x + x"))

    assert "__flow_source__ = ('movable.py', 5)" in code
    assert "__flow_source__ = ('movable.py', 7)" in moved_code
    assert (first, moved, changed) == (TaskState.SUCCEEDED, TaskState.CACHED, TaskState.SUCCEEDED)
