"""Which tasks a mock's key answers (runner.engine.mocks.resolve), without running anything."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from runner.engine.mocks import LISTED_NAMES, resolve
from runner.errors import UsageError
from runner.spec import load_text
from runner.testing.shellsteps import Step, pipeline


def test_python_names_are_kfp_names() -> None:
    spec = load_text(pipeline({"prepare-data": Step("echo"), "train": Step("echo")}), "p.yaml")
    given = {"rows": "1,2"}
    assert resolve({"prepare_data": given}, spec) == {"prepare-data": given}
    assert resolve({"Prepare_Data": given}, spec) == {"prepare-data": given}
    assert resolve({"comp-train": given}, spec) == {"train": given}


def test_the_names_of_a_big_pipeline_are_cut_in_the_message() -> None:
    steps = {f"step-{n:03}": Step("echo") for n in range(LISTED_NAMES + 10)}
    with pytest.raises(UsageError) as refused:
        resolve({"nothing-like-it": {}}, load_text(pipeline(steps), "big.yaml"))
    message = str(refused.value)
    last = f"step-{LISTED_NAMES - 1:03}"
    assert fnmatch(
        message,
        "big.yaml: mock 'nothing-like-it' names no task or component of the pipeline;"
        f" its tasks: step-000, step-001, *, {last} and 10 more;"
        f" its components: comp-step-000, *, comp-{last} and 10 more",
    )
    assert f"step-{LISTED_NAMES:03}" not in message
