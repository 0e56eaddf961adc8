"""Loops over artifacts, artifacts returned by pipelines and Collected out of an If in a loop: compiled as kfp
compiles the same pipelines."""

# No `from __future__ import annotations`: kfp reads the components' annotations as real types.
# mypy: disable-error-code="no-untyped-def,valid-type"

from pathlib import Path
from types import ModuleType
from typing import Any

import kfp.dsl
import pytest
import yaml
from kfp import compiler

import runner
from tests.unit.irshape import shape


def build(dsl: ModuleType) -> dict[str, Any]:
    """The same pipelines written with `dsl` (kfp.dsl or runner), by name."""
    options: dict[str, Any] = {"base_image": "python:3.11"}
    if dsl is kfp.dsl:
        options["install_kfp_package"] = False

    @dsl.component(**options)
    def make(n: int, out: dsl.Output[dsl.Dataset]):
        with open(out.path, "w") as handle:
            handle.write(str(n))

    @dsl.component(**options)
    def read(data: dsl.Input[dsl.Dataset]) -> str:
        with open(data.path) as handle:
            return handle.read()

    @dsl.component(**options)
    def join(texts: list[str]) -> str:
        return ",".join(texts)

    @dsl.pipeline(name="over-input")
    def over_input(datasets: dsl.Input[list[dsl.Dataset]]) -> str:
        with dsl.ParallelFor(datasets, parallelism=2) as data:
            text = read(data=data)
        return join(texts=dsl.Collected(text.output)).output

    @dsl.pipeline(name="made")
    def made(ns: list = [1, 2, 3]) -> list[dsl.Dataset]:  # noqa: B006
        with dsl.ParallelFor(ns) as n:
            file = make(n=n)
        return dsl.Collected(file.outputs["out"])

    @dsl.pipeline(name="over-output")
    def over_output(ns: list = [1, 2, 3]) -> str:  # noqa: B006
        files = made(ns=ns)
        with dsl.ParallelFor(files.output) as data:
            text = read(data=data)
        return join(texts=dsl.Collected(text.output)).output

    @dsl.pipeline(name="returns-artifact")
    def returns_artifact(n: int = 4) -> dsl.Dataset:
        return make(n=n).outputs["out"]

    @dsl.pipeline(name="collect-if")
    def collect_if() -> str:
        with dsl.ParallelFor([1, 2, 3]) as n, dsl.If(n > 1):
            file = make(n=n)
            text = read(data=file.outputs["out"])
        return join(texts=dsl.Collected(text.output)).output

    return {
        "over-input": over_input,
        "over-output": over_output,
        "returns-artifact": returns_artifact,
        "collect-if": collect_if,
    }


@pytest.mark.parametrize("name", ["over-input", "over-output", "returns-artifact", "collect-if"])
def test_compiles_as_kfp_compiles_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(build(kfp.dsl)[name], str(path))
    theirs = yaml.safe_load(path.read_text())
    mine = runner.compile(build(runner)[name])

    assert shape(mine, executors=True) == shape(theirs, executors=True)


@runner.component
def make_one(out: runner.Output[runner.Dataset]) -> None:
    open(out.path, "w").close()


@runner.component
def number(n: int) -> int:
    return n


@runner.component
def total(values: list) -> int:
    return sum(values)


def loop_over_collected() -> None:
    @runner.pipeline
    def p():
        with runner.ParallelFor([1, 2]):
            made = make_one()
        with runner.ParallelFor(runner.Collected(made.outputs["out"])):
            pass


def loop_over_one_artifact() -> None:
    @runner.pipeline
    def p():
        with runner.ParallelFor(make_one().outputs["out"]):
            pass


def field_of_an_artifact_item() -> None:
    @runner.pipeline
    def p(files: runner.Input[list[runner.Dataset]]):
        with runner.ParallelFor(files) as item:
            number(n=item.size)


def artifact_item_to_a_parameter() -> None:
    @runner.pipeline
    def p(files: runner.Input[list[runner.Dataset]]):
        with runner.ParallelFor(files) as item:
            number(n=item)


def collected_out_of_an_if_outside_a_loop() -> None:
    @runner.pipeline
    def p(x: int = 1):
        with runner.If(x > 0), runner.ParallelFor([1, 2]) as n:
            square = number(n=n)
        total(values=runner.Collected(square.output))

    runner.compile(p)


def component_returning_an_artifact() -> None:
    @runner.component
    def f() -> runner.Dataset:
        return runner.Dataset()


ERRORS = [
    (loop_over_collected, "ParallelFor cannot take a Collected list directly (nor can kfp's); return it"),
    (loop_over_one_artifact, "ParallelFor over artifacts needs a list of artifacts"),
    (field_of_an_artifact_item, "an artifact has no fields (item of for-loop-1.size)"),
    (artifact_item_to_a_parameter, "input 'n' takes a parameter, got the artifact item of for-loop-1"),
    (collected_out_of_an_if_outside_a_loop, "cannot leave the condition condition-1 outside a ParallelFor"),
    (component_returning_an_artifact, "f: returns an artifact (<class"),
]


@pytest.mark.parametrize(("define", "message"), ERRORS, ids=[e[0].__name__ for e in ERRORS])
def test_definition_errors(define: Any, message: str) -> None:
    with pytest.raises(runner.DefinitionError) as caught:
        define()
    assert message in str(caught.value)
