"""Control flow compiles to the IR kfp writes: the same pipeline code through kfp's SDK and flow's gives the
same DAGs (groups, conditions in CEL, iterators, Collected outputs, exit handlers, importers)."""

# No `from __future__ import annotations`: kfp reads the components' annotations as real types.
# mypy: disable-error-code="no-untyped-def,valid-type,name-defined"

import json
from types import ModuleType
from typing import Any

import kfp.dsl
import pytest
import yaml
from kfp import compiler

import runner
from runner.dsl import DefinitionError
from runner.spec import load_text
from tests.unit.irshape import shape


def build(dsl: ModuleType, extra: bool = False) -> Any:
    """One pipeline written against either SDK (kfp.dsl or runner): same names, same behaviour."""
    options: dict[str, Any] = {"base_image": "python:3.11"}
    if dsl is kfp.dsl:
        options["install_kfp_package"] = False

    @dsl.component(**options)
    def num(n: int) -> int:
        return n

    @dsl.component(**options)
    def say(t: str) -> str:
        return t

    @dsl.component(**options)
    def make(n: int, out: dsl.Output[dsl.Dataset]):
        pass

    @dsl.component(**options)
    def total(xs: list[int]) -> int:
        return sum(xs)

    @dsl.component(**options)
    def join(ds: dsl.Input[list[dsl.Dataset]]) -> str:
        return ""

    @dsl.component(**options)
    def final(status: dsl.PipelineTaskFinalStatus) -> str:
        return status.state

    @dsl.component(**options)
    def pair(a: str, b: int) -> str:
        return a

    @dsl.component(**options)
    def records() -> list:
        return []

    @dsl.pipeline(name="control-flow")
    def control_flow(x: int = 3, items: list = [1, 2], s: str = "a", fl: float = 1.5, flag: bool = True):  # noqa: B006
        exit_task = final()
        with dsl.ExitHandler(exit_task, name="main"):
            first = num(n=x)
            with dsl.If(first.output > 2, name="big"):
                say(t="big")
            with dsl.Elif(first.output == 2):
                say(t="two")
            with dsl.Else():
                say(t="small")
            with dsl.ParallelFor([1, 2, 3], parallelism=2) as item:
                square = num(n=item)
                made = make(n=item)
            total(xs=dsl.Collected(square.output))
            join(ds=dsl.Collected(made.outputs["out"]))
            with dsl.ParallelFor(items) as each:
                num(n=each)
            with dsl.If(s == "a"):
                say(t=s)
            with dsl.If(fl < 2.5):
                say(t="fl")
            with dsl.If(flag == True):  # noqa: E712  (a comparison that builds a condition)
                say(t="b")
            dsl.importer(artifact_uri="/x/y", artifact_class=dsl.Dataset, metadata={"k": "v"})
            dsl.importer(artifact_uri=s, artifact_class=dsl.Model)
        found = records()
        with dsl.ParallelFor(found.output) as record:
            pair(a=record.a, b=record.b)
        with dsl.ParallelFor([{"a": "x", "b": 2}]) as record2:
            pair(a=record2.a, b=3).after(found)
        return dsl.Collected(square.output) if extra else None

    return control_flow


def kfp_ir(tmp_path: Any) -> dict[str, Any]:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(build(kfp.dsl), str(path))
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_the_same_control_flow_compiles_to_kfps_dags(tmp_path: Any) -> None:
    mine = runner.compile(build(runner))
    assert json.dumps(shape(mine), indent=1, sort_keys=True) == json.dumps(
        shape(kfp_ir(tmp_path)), indent=1, sort_keys=True
    )


def test_conditions_are_kfps_cel(tmp_path: Any) -> None:
    ir = runner.compile(build(runner))
    conditions = sorted(
        task["triggerPolicy"]["condition"]
        for component in ir["components"].values()
        for task in component.get("dag", {}).get("tasks", {}).values()
        if "condition" in task.get("triggerPolicy", {})
    )
    first = "int(inputs.parameter_values['pipelinechannel--num-Output'])"
    assert conditions == sorted(
        [
            f"!({first} > 2) && !({first} == 2)",
            f"!({first} > 2) && {first} == 2",
            f"{first} > 2",
            "inputs.parameter_values['pipelinechannel--flag'] == true",
            "inputs.parameter_values['pipelinechannel--fl'] < 2.5",
            "inputs.parameter_values['pipelinechannel--s'] == 'a'",
        ]
    )


def test_the_compiled_file_loads_in_flow_and_in_kfp() -> None:
    text = runner.compile_to_text(build(runner))
    spec = load_text(text)
    assert {"exit-handler-1", "final", "records", "for-loop-12", "for-loop-14"} == set(spec.root.dag.tasks)
    from kfp import components

    assert components.load_component_from_text(text).name == "control-flow"


def test_a_collected_list_can_be_a_pipeline_output() -> None:
    ir = runner.compile(build(runner, extra=True))
    assert ir["root"]["outputDefinitions"] == {"parameters": {"Output": {"parameterType": "LIST"}}}
    assert ir["root"]["dag"]["outputs"]["parameters"]["Output"] == {
        "valueFromParameter": {
            "outputParameterKey": "pipelinechannel--num-2-Output",
            "producerSubtask": "exit-handler-1",
        }
    }
    # kfp leaves the exit handler's DAG without this output; flow declares it, so the file is valid
    handler = ir["components"]["comp-exit-handler-1"]
    assert handler["outputDefinitions"]["parameters"]["pipelinechannel--num-2-Output"] == {
        "parameterType": "LIST"
    }
    load_text(runner.compile_to_text(build(runner, extra=True)))


@runner.component
def count(n: int) -> int:
    return n


@runner.component
def shout(text: str) -> str:
    return text


def test_a_loop_item_passed_into_a_nested_dag_is_typed_by_its_use() -> None:
    # kfp types the item of a list-typed input STRING; the engine checks nested DAG inputs, so flow uses
    # the type the item is compared with or passed as.
    @runner.pipeline
    def loop(items: list = [1, 2]):  # noqa: B006
        with runner.ParallelFor(items) as item, runner.If(item == 2):
            count(n=item)

    ir = runner.compile(loop)
    condition = ir["components"]["comp-condition-2"]
    assert condition["inputDefinitions"]["parameters"] == {
        "pipelinechannel--items-loop-item": {"parameterType": "NUMBER_INTEGER"}
    }
    loop_dag = ir["components"]["comp-for-loop-1"]
    assert loop_dag["inputDefinitions"]["parameters"]["pipelinechannel--items-loop-item"] == {
        "parameterType": "STRING"
    }


def test_mixed_types_and_quotes_in_conditions() -> None:
    @runner.pipeline
    def mixed(n: int = 1, text: str = "it's"):
        first = count(n=n)
        with runner.If(first.output < 2.5):
            shout(text="a")
        with runner.If(text == "it's"):
            shout(text="b")

    tasks = runner.compile(mixed)["root"]["dag"]["tasks"]
    assert tasks["condition-1"]["triggerPolicy"]["condition"] == (
        "double(int(inputs.parameter_values['pipelinechannel--count-Output'])) < 2.5"
    )
    assert (
        tasks["condition-2"]["triggerPolicy"]["condition"]
        == "inputs.parameter_values['pipelinechannel--text'] == 'it\\'s'"
    )


def test_elif_and_else_need_an_if_right_before() -> None:
    with pytest.raises(DefinitionError, match="Else must directly follow an If or Elif block"):

        @runner.pipeline
        def lone_else(n: int = 1):
            with runner.Else():
                count(n=n)

    with pytest.raises(DefinitionError, match="cannot follow an Else"):

        @runner.pipeline
        def twice(n: int = 1):
            with runner.If(n > 1):
                count(n=n)
            with runner.Else():
                count(n=n)
            with runner.Elif(n > 2):
                count(n=n)


def test_tasks_after_an_elif_stay_outside_the_branches() -> None:
    # kfp puts such a task inside the condition-branches DAG when no Else follows; flow keeps it outside.
    @runner.pipeline
    def branches(n: int = 1):
        with runner.If(n > 1):
            count(n=n)
        with runner.Elif(n == 1):
            count(n=n)
        shout(text="after")

    ir = runner.compile(branches)
    assert set(ir["root"]["dag"]["tasks"]) == {"condition-branches-1", "shout"}
    assert set(ir["components"]["comp-condition-branches-1"]["dag"]["tasks"]) == {
        "condition-2",
        "condition-3",
    }


def build_oneof(dsl: ModuleType) -> Any:
    options: dict[str, Any] = {"base_image": "python:3.11"}
    if dsl is kfp.dsl:
        options["install_kfp_package"] = False

    @dsl.component(**options)
    def say(t: str) -> str:
        return t

    @dsl.component(**options)
    def make(out: dsl.Output[dsl.Dataset]):
        pass

    @dsl.component(**options)
    def use(d: dsl.Input[dsl.Dataset]) -> str:
        return ""

    @dsl.pipeline(name="oneof")
    def oneof(x: str = "a") -> str:
        with dsl.If(x == "a"):
            a, made_a = say(t="A"), make()
        with dsl.Elif(x == "b"):
            b, made_b = say(t="B"), make()
        with dsl.Else():
            c, made_c = say(t="C"), make()
        chosen = dsl.OneOf(a.output, b.output, c.output)
        say(t=chosen)
        use(d=dsl.OneOf(made_a.output, made_b.output, made_c.output))
        return chosen

    return oneof


def test_oneof_compiles_as_kfp_compiles_it(tmp_path: Any) -> None:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(build_oneof(kfp.dsl), str(path))
    mine = runner.compile(build_oneof(runner))
    assert shape(mine) == shape(yaml.safe_load(path.read_text()))
    outputs = mine["components"]["comp-condition-branches-1"]["dag"]["outputs"]
    assert outputs["parameters"]["pipelinechannel--condition-branches-1-oneof-1"]["valueFromOneof"] == {
        "parameterSelectors": [
            {"outputParameterKey": "pipelinechannel--say-Output", "producerSubtask": "condition-2"},
            {"outputParameterKey": "pipelinechannel--say-2-Output", "producerSubtask": "condition-3"},
            {"outputParameterKey": "pipelinechannel--say-3-Output", "producerSubtask": "condition-4"},
        ]
    }
    assert (
        len(outputs["artifacts"]["pipelinechannel--condition-branches-1-oneof-2"]["artifactSelectors"]) == 3
    )


def test_oneof_needs_every_branch_and_an_else() -> None:
    with pytest.raises(DefinitionError, match="one output from each branch of one If/Elif/Else, in order"):

        @runner.pipeline
        def no_else(n: int = 1) -> str:
            with runner.If(n > 1):
                a = shout(text="a")
            with runner.Elif(n == 1):
                b = shout(text="b")
            return runner.OneOf(a.output, b.output)
