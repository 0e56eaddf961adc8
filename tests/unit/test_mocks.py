"""Which tasks a mock's key answers (runner.engine.mocks.resolve), and runs whose tasks are all mocked."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

import runner
from runner import Collected, ParallelFor, component, pipeline
from runner.engine.mocks import LISTED_NAMES, resolve
from runner.errors import UsageError
from runner.spec import load_text
from runner.testing import shellsteps


def test_python_names_are_kfp_names() -> None:
    steps = {"prepare-data": shellsteps.Step("echo"), "train": shellsteps.Step("echo")}
    spec = load_text(shellsteps.pipeline(steps), "p.yaml")
    given = {"rows": "1,2"}
    assert resolve({"prepare_data": given}, spec) == {"prepare-data": given}
    assert resolve({"Prepare_Data": given}, spec) == {"prepare-data": given}
    assert resolve({"comp-train": given}, spec) == {"train": given}


def test_the_names_of_a_big_pipeline_are_cut_in_the_message() -> None:
    steps = {f"step-{n:03}": shellsteps.Step("echo") for n in range(LISTED_NAMES + 10)}
    with pytest.raises(UsageError) as refused:
        resolve({"nothing-like-it": {}}, load_text(shellsteps.pipeline(steps), "big.yaml"))
    message = str(refused.value)
    last = f"step-{LISTED_NAMES - 1:03}"
    assert fnmatch(
        message,
        "big.yaml: mock 'nothing-like-it' names no task or component of the pipeline;"
        f" its tasks: step-000, step-001, *, {last} and 10 more;"
        f" its components: comp-step-000, *, comp-{last} and 10 more",
    )
    assert f"step-{LISTED_NAMES:03}" not in message


@component
def double(x: int) -> int:
    return 2 * x


@pipeline
def doubled() -> list:
    with ParallelFor([1, 2, 3]) as x:
        twice = double(x=x)
    return Collected(twice.output)


@pytest.mark.parametrize("key", ["double", "comp-double", "for-loop-2/double"])
def test_a_mock_answers_every_iteration_of_a_loop(key: str, tmp_path: Path) -> None:
    result = runner.run(doubled, mock={key: lambda inputs: {"Output": inputs["x"] * 10}}, root=tmp_path)
    assert result.succeeded, result.error
    assert result.outputs == {"Output": [10, 20, 30]}
    assert {t.path for t in result.tasks.values() if t.kind != "dag"} == {
        f"for-loop-2/{n}/double" for n in range(3)
    }
