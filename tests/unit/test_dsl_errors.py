"""Mistakes in a definition are DefinitionErrors (UsageErrors) when it is defined, naming the function and
the parameter, the task or the output."""

# mypy: disable-error-code="no-untyped-def,valid-type,type-arg,call-arg,arg-type"

import re
from collections.abc import Callable
from typing import NamedTuple

import pytest

import runner
from runner.dsl import DefinitionError
from runner.errors import UsageError


@runner.component
def one(x: int) -> int:
    return x


@runner.component
def two(x: int) -> NamedTuple("Outputs", [("a", int), ("b", str)]):
    return (x, "")


@runner.component
def text(t: str) -> str:
    return t


@runner.component
def takes_data(d: runner.Input[runner.Dataset]) -> None:
    pass


def unsupported_annotation() -> None:
    @runner.component
    def f(x: set) -> int:
        return 1


def unsupported_return() -> None:
    @runner.component
    def f(x: int) -> set:
        return set()


def missing_annotation() -> None:
    @runner.component
    def f(x) -> int:
        return 1


def unserialisable_default() -> None:
    @runner.component
    def f(x: dict = {"a": object()}) -> int:  # noqa: B006, B008
        return 1


def default_of_the_wrong_type() -> None:
    @runner.component
    def f(x: int = "a") -> int:
        return 1


def name_collision() -> None:
    @runner.component
    def f(a: int) -> NamedTuple("Outputs", [("a", int)]):
        return (a,)


def output_that_does_not_exist() -> None:
    @runner.pipeline
    def p():
        one(x=two(x=1).outputs["c"])


def output_of_a_task_with_several() -> None:
    @runner.pipeline
    def p():
        one(x=two(x=1).output)


def unknown_argument() -> None:
    @runner.pipeline
    def p():
        one(y=1)


def missing_argument() -> None:
    @runner.pipeline
    def p():
        one()


def output_of_the_wrong_type() -> None:
    @runner.pipeline
    def p():
        text(t=one(x=1).output)


def constant_of_the_wrong_type() -> None:
    @runner.pipeline
    def p():
        one(x="a")


def constant_for_an_artifact() -> None:
    @runner.pipeline
    def p():
        takes_data(d="/data.csv")


def unserialisable_pipeline_default() -> None:
    @runner.pipeline
    def p(x: float = float("nan")):
        one(x=1)


def cycle() -> None:
    @runner.pipeline
    def p():
        a = one(x=1)
        b = one(x=a.output)
        a.after(b)

    runner.compile(p)


def output_leaving_a_condition() -> None:
    @runner.pipeline
    def p(n: int = 1):
        with runner.If(n > 1):
            inside = one(x=1)
        one(x=inside.output)

    runner.compile(p)


def python_if_on_a_channel() -> None:
    @runner.pipeline
    def p(n: int = 1):
        if n > 1:
            one(x=1)


def positional_argument() -> None:
    @runner.pipeline
    def p():
        one(1)


def untyped_pipeline_parameter() -> None:
    @runner.pipeline
    def p(x):
        one(x=x)


def collected_without_a_loop() -> None:
    @runner.pipeline
    def p():
        one(x=runner.Collected(one(x=1).output))


def bad_cpu() -> None:
    @runner.pipeline
    def p():
        one(x=1).set_cpu_limit("two")


def pipeline_without_tasks() -> None:
    @runner.pipeline
    def p():
        pass

    runner.compile(p)


CASES: list[tuple[Callable[[], None], str]] = [
    (unsupported_annotation, "f: parameter 'x': unsupported annotation <class 'set'>"),
    (unsupported_return, "f: unsupported return annotation <class 'set'>"),
    (missing_annotation, "f: parameter 'x' has no type annotation"),
    (unserialisable_default, "f: parameter 'x': {'a': <object"),
    (default_of_the_wrong_type, "f: parameter 'x': default 'a' is not an int"),
    (name_collision, "f: parameter 'a': the return value 'a' has the name of a parameter"),
    (output_that_does_not_exist, "task 'two' (component 'two') has no output 'c'; its outputs: a, b"),
    (output_of_a_task_with_several, "task 'two' (component 'two') has outputs a, b: use .outputs['NAME']"),
    (unknown_argument, "p: call of 'one': component 'one' has no input 'y'; its inputs: x"),
    (missing_argument, "p: call of 'one': missing argument(s) for 'x'"),
    (
        output_of_the_wrong_type,
        "p: call of 'text': input 't' takes a str, got an int (output 'Output' of task",
    ),
    (constant_of_the_wrong_type, "p: call of 'one': input 'x' takes an int, got 'a'"),
    (
        constant_for_an_artifact,
        "input 'd' takes an artifact (a task output or pipeline input), got '/data.csv'",
    ),
    (unserialisable_pipeline_default, "p: parameter 'x': default nan cannot be written"),
    (cycle, "p: root: the tasks form a cycle: one -> one-2 -> one"),
    (
        output_leaving_a_condition,
        "task 'one-2': uses output 'Output' of task 'one', which runs inside condition",
    ),
    (python_if_on_a_channel, "a condition on pipeline values is only known at run time; use `with If(...)`"),
    (positional_argument, "component 'one' takes keyword arguments only inside a pipeline"),
    (untyped_pipeline_parameter, "p: parameter 'x' has no type annotation"),
    (collected_without_a_loop, "input 'x' does not take a list (Collected("),
    (bad_cpu, "p: task 'one': CPU must be like '2', '0.5' or '500m', got 'two'"),
    (pipeline_without_tasks, "p: the pipeline has no tasks"),
]


@pytest.mark.parametrize(("define", "message"), CASES, ids=[c[0].__name__ for c in CASES])
def test_definition_errors_name_what_is_wrong(define: Callable[[], None], message: str) -> None:
    with pytest.raises(DefinitionError, match=re.escape(message)) as caught:
        define()
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2


def test_an_annotation_error_points_at_the_function() -> None:
    with pytest.raises(DefinitionError) as caught:
        unsupported_annotation()
    assert caught.value.where is not None and caught.value.where.startswith(__file__ + ":")


def test_a_pipeline_called_outside_a_pipeline_says_how_to_run_it() -> None:
    @runner.pipeline
    def p(x: int = 1):
        one(x=x)

    with pytest.raises(DefinitionError, match=r"runs with runner.run\(...\) or `flow run`"):
        p(x=1)
