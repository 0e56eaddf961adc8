"""Loading IR: a valid file becomes the typed model; every error is a one-line SpecError naming the place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from irbuild import Pipeline, artifact_from_task, const, from_input, from_task, task

from runner.errors import SpecError
from runner.spec import load_file, load_text
from runner.spec.model import Container


def two_steps() -> Pipeline:
    """produce -> consume, passing a parameter and an artifact; a pipeline input feeds produce."""
    return (
        Pipeline("two-steps")
        .container(
            "comp-produce",
            inputs={"n": "NUMBER_INTEGER"},
            outputs={"msg": "STRING", "data": "system.Dataset"},
            args=["{{$.inputs.parameters['n']}}"],
        )
        .container("comp-consume", inputs={"msg": "STRING", "data": "system.Dataset"})
        .root(
            {
                "produce": task("comp-produce", n=from_input("count")),
                "consume": task(
                    "comp-consume",
                    msg=from_task("produce", "msg"),
                    data=artifact_from_task("produce", "data"),
                ),
            },
            inputs={"count": "NUMBER_INTEGER"},
            defaults={"count": 3.0},
        )
    )


def load_error(doc: dict[str, Any] | str, tmp_path: Path) -> str:
    """The message of the SpecError that loading `doc` from a file raises: one line, naming the file."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_valid_pipeline_loads_into_the_model() -> None:
    spec = load_text(two_steps().yaml(), "p.yaml")
    assert spec.name == "two-steps"
    assert spec.source == "p.yaml"
    assert list(spec.root.dag.tasks) == ["produce", "consume"]
    consume = spec.root.dag.tasks["consume"]
    assert consume.component == "comp-consume"
    assert consume.upstream == {"produce"}
    assert consume.parameters["msg"].kind == "task_output"
    assert consume.artifacts["data"].producer == "produce"
    assert spec.root.inputs.parameters["count"].default == 3.0
    executor = spec.component("comp-produce").executor
    assert isinstance(executor, Container)
    assert executor.image == "alpine:3"
    assert executor.args == ("{{$.inputs.parameters['n']}}",)
    assert spec.component("comp-produce").outputs.artifacts["data"].schema_title == "system.Dataset"


def test_load_file_reads_a_file_and_reports_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(two_steps().yaml())
    assert load_file(path).source == str(path)
    with pytest.raises(SpecError, match="no such file"):
        load_file(tmp_path / "missing.yaml")


def test_platform_spec_document_is_kept() -> None:
    text = two_steps().yaml() + "---\nplatforms:\n  kubernetes: {}\n"
    assert load_text(text).platform == {"platforms": {"kubernetes": {}}}


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    message = load_error("root:\n  dag: [1, 2\ncomponents: {}\n", tmp_path)
    assert "malformed YAML" in message
    assert "pipeline.yaml:3:" in message  # the flow sequence is still open on line 3


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"foo": 1}, "not a pipeline"),
        ({"components": {}}, "not a pipeline"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_not_a_pipeline(doc: Any, problem: str, tmp_path: Path) -> None:
    assert problem in load_error(doc, tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    assert "empty file" in load_error("", tmp_path)


def test_a_name_with_line_breaks_is_quoted_on_one_line(tmp_path: Path) -> None:
    """Fuzzing found a component named "\\n": the error naming its place split over two lines."""
    doc = two_steps().doc
    doc["components"] = {"comp-\nx\u2028": None}
    message = load_error(doc, tmp_path)
    assert "\n" not in message and "\u2028" not in message
    assert "comp-\\nx\\u2028" in message


def test_unknown_component_ref(tmp_path: Path) -> None:
    doc = two_steps().doc
    doc["root"]["dag"]["tasks"]["consume"]["componentRef"]["name"] = "comp-missing"
    message = load_error(doc, tmp_path)
    assert "root.dag.tasks.consume.componentRef.name" in message
    assert "'comp-missing'" in message


def test_dependency_on_unknown_task(tmp_path: Path) -> None:
    doc = two_steps().doc
    doc["root"]["dag"]["tasks"]["consume"]["dependentTasks"] = ["ghost"]
    message = load_error(doc, tmp_path)
    assert "root.dag.tasks.consume" in message
    assert "unknown task 'ghost'" in message


def test_task_output_parameter_with_missing_key(tmp_path: Path) -> None:
    doc = two_steps().doc
    doc["root"]["dag"]["tasks"]["consume"] = task(
        "comp-consume", msg=from_task("produce", "nope"), data=artifact_from_task("produce", "data")
    )
    message = load_error(doc, tmp_path)
    assert "root.dag.tasks.consume.inputs.parameters.msg" in message
    assert "'produce' has no output parameter 'nope'" in message


def test_task_output_artifact_with_missing_key(tmp_path: Path) -> None:
    doc = two_steps().doc
    doc["root"]["dag"]["tasks"]["consume"]["inputs"]["artifacts"]["data"] = artifact_from_task(
        "produce", "x"
    )[1]
    message = load_error(doc, tmp_path)
    assert "root.dag.tasks.consume.inputs.artifacts.data" in message
    assert "no output artifact 'x'" in message


def test_task_output_from_a_task_with_unknown_component(tmp_path: Path) -> None:
    """The consumer is checked before its producer, whose componentRef is unknown: still a SpecError."""
    doc = two_steps().doc
    tasks = doc["root"]["dag"]["tasks"]
    doc["root"]["dag"]["tasks"] = {"consume": tasks["consume"], "produce": tasks["produce"]}
    tasks["produce"]["componentRef"]["name"] = "comp-missing"
    message = load_error(doc, tmp_path)
    assert "'comp-missing'" in message


def test_cycle_lists_the_tasks(tmp_path: Path) -> None:
    doc = (
        Pipeline()
        .container("comp-step")
        .root(
            {
                "a": task("comp-step", after=("c",)),
                "b": task("comp-step", after=("a",)),
                "c": task("comp-step", after=("b",)),
                "d": task("comp-step"),
            }
        )
        .doc
    )
    message = load_error(doc, tmp_path)
    assert "root.dag.tasks" in message
    assert "cycle" in message
    cycle = message.split("cycle: ")[1].split(" -> ")
    assert cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["a", "b", "c"]


def test_cycle_inside_a_nested_dag(tmp_path: Path) -> None:
    doc = (
        Pipeline()
        .container("comp-step")
        .dag("comp-inner", {"x": task("comp-step", after=("y",)), "y": task("comp-step", after=("x",))})
        .root({"inner": task("comp-inner")})
        .doc
    )
    message = load_error(doc, tmp_path)
    assert "components.comp-inner.dag.tasks" in message
    assert "cycle" in message


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "x.."])
def test_unsafe_task_name(name: str, tmp_path: Path) -> None:
    doc = Pipeline().container("comp-step").root({name: task("comp-step")}).doc
    message = load_error(doc, tmp_path)
    assert f"task name {name!r} is not a safe path segment" in message
    assert f"root.dag.tasks.{name}" in message


@pytest.mark.parametrize("kind", ["STRING", "system.Model"])
def test_unsafe_output_name(kind: str, tmp_path: Path) -> None:
    doc = Pipeline().container("comp-step", outputs={"../x": kind}).root({"s": task("comp-step")}).doc
    message = load_error(doc, tmp_path)
    assert "output name '../x' is not a safe path segment" in message
    assert "components.comp-step.outputDefinitions" in message


def test_unknown_parameter_type(tmp_path: Path) -> None:
    doc = (
        Pipeline()
        .container("comp-step", inputs={"x": "FLOAT"})
        .root({"s": task("comp-step", x=const(1))})
        .doc
    )
    message = load_error(doc, tmp_path)
    assert "parameterType: expected one of" in message
    assert message.endswith("got 'FLOAT'")
    assert "components.comp-step.inputDefinitions.parameters.x.parameterType" in message


def test_component_input_that_the_dag_does_not_declare(tmp_path: Path) -> None:
    doc = Pipeline().container("comp-step", inputs={"x": "STRING"})
    doc.root({"s": task("comp-step", x=from_input("nope"))})
    message = load_error(doc.doc, tmp_path)
    assert "root.dag.tasks.s.inputs.parameters.x" in message
    assert "no input parameter 'nope'" in message
