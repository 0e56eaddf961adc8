"""@pipeline: wiring between tasks, pipeline inputs and outputs, task settings, nesting, loaded components."""

# No `from __future__ import annotations`: kfp reads the components' annotations as real types.
# mypy: disable-error-code="no-untyped-def,valid-type"

from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import kfp.dsl
import yaml
from kfp import compiler, components

import runner
from runner.dsl import load_component, load_component_from_text
from runner.dsl.loading import YamlComponent, YamlGraphComponent
from runner.spec import load_text
from tests.unit.irshape import shape


def build(dsl: ModuleType) -> Any:
    options: dict[str, Any] = {"base_image": "python:3.11"}
    if dsl is kfp.dsl:
        options["install_kfp_package"] = False

    @dsl.component(**options)
    def prep(n: int, data: dsl.Output[dsl.Dataset], label: str = "x") -> NamedTuple("Out", [("count", int)]):
        return (n,)

    @dsl.component(**options)
    def train(data: dsl.Input[dsl.Dataset], count: int, model: dsl.Output[dsl.Model]) -> float:
        return 1.0

    @dsl.pipeline(name="wired", description="Two tasks.")
    def wired(
        n: int = 3,
        rate: float = 0.1,
        name: str = "hi",
        flag: bool = False,
        cfg: dict = {"k": "v"},  # noqa: B006
    ) -> float:
        first = prep(n=n, label=name)
        first.set_caching_options(False)
        second = train(data=first.outputs["data"], count=first.outputs["count"]).after(first)
        second.set_retry(num_retries=2, backoff_duration="1s", backoff_factor=2.0, backoff_max_duration="10s")
        second.set_cpu_limit("2").set_memory_limit("1G").set_cpu_request("500m").set_memory_request("512Mi")
        second.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        second.set_env_variable("MODE", "fast").set_display_name("Training")
        prep(n=7)
        return second.outputs["Output"]

    return wired


def test_wiring_and_task_settings_compile_as_kfp_compiles_them(tmp_path: Path) -> None:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(build(kfp.dsl), str(path))
    theirs = yaml.safe_load(path.read_text())
    mine = runner.compile(build(runner))

    assert shape(mine, executors=True) == shape(theirs, executors=True)
    assert mine["pipelineInfo"] == theirs["pipelineInfo"] == {"description": "Two tasks.", "name": "wired"}
    tasks = mine["root"]["dag"]["tasks"]
    assert tasks["train"]["inputs"] == {
        "artifacts": {"data": {"taskOutputArtifact": {"outputArtifactKey": "data", "producerTask": "prep"}}},
        "parameters": {
            "count": {"taskOutputParameter": {"outputParameterKey": "count", "producerTask": "prep"}}
        },
    }
    assert tasks["train"]["dependentTasks"] == ["prep"]
    assert tasks["prep"]["cachingOptions"] == {}
    assert tasks["prep-2"]["inputs"]["parameters"]["n"] == {"runtimeValue": {"constant": 7}}
    assert mine["root"]["inputDefinitions"]["parameters"]["n"] == {
        "defaultValue": 3,
        "isOptional": True,
        "parameterType": "NUMBER_INTEGER",
    }


def test_identical_components_are_stored_once_and_settings_make_them_differ() -> None:
    mine = runner.compile(build(runner))
    # prep and prep-2 share comp-prep; train's resources and env live in its own executor
    assert sorted(mine["components"]) == ["comp-prep", "comp-train"]
    assert mine["root"]["dag"]["tasks"]["prep-2"]["componentRef"] == {"name": "comp-prep"}
    train = mine["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["env"] == [{"name": "MODE", "value": "fast"}]
    assert train["resources"]["resourceMemoryRequest"] == "512Mi"
    assert train["resources"]["memoryRequest"] == 0.536870912


def test_compiled_text_loads_in_flow_and_kfp() -> None:
    text = runner.compile_to_text(build(runner))
    spec = load_text(text)
    assert spec.root.dag.tasks["train"].retry is not None
    assert spec.root.dag.tasks["train"].retry.max_retries == 2
    assert spec.components["comp-train"].executor.resources.cpu_limit == 2.0  # type: ignore[union-attr]
    loaded = components.load_component_from_text(text)
    assert loaded.name == "wired"


@runner.component
def double(x: int) -> int:
    return 2 * x


@runner.component
def write(text: str, out: runner.Output[runner.Dataset]) -> None:
    with open(out.path, "w") as handle:
        handle.write(text)


def test_a_timeout_goes_into_the_kubernetes_platform_document() -> None:
    @runner.pipeline
    def timed(x: int = 1):
        double(x=x).set_timeout(90)
        double(x=x)

    documents = list(yaml.safe_load_all(runner.compile_to_text(timed)))
    assert len(documents) == 2
    executors = documents[0]["deploymentSpec"]["executors"]
    assert sorted(executors) == ["exec-double", "exec-double-2"]  # same container, different settings
    assert documents[1] == {
        "platforms": {
            "kubernetes": {"deploymentSpec": {"executors": {"exec-double": {"activeDeadlineSeconds": "90"}}}}
        }
    }
    spec = load_text(runner.compile_to_text(timed))
    assert spec.kubernetes_executor("exec-double") == {"activeDeadlineSeconds": "90"}
    assert runner.compile_to_text(double).count("\n---") == 0  # no second document without settings


class Results(NamedTuple):
    doubled: int
    data: runner.Dataset


@runner.pipeline(name="inner")
def inner(x: int, text: str = "hello") -> Results:
    doubled = double(x=x)
    written = write(text=text)
    return Results(doubled.output, written.outputs["out"])


def test_a_pipeline_inside_a_pipeline_is_a_dag_task() -> None:
    @runner.pipeline(name="outer")
    def outer(x: int = 2) -> int:
        nested = inner(x=x)
        return double(x=nested.outputs["doubled"]).output

    ir = runner.compile(outer)
    task = ir["root"]["dag"]["tasks"]["inner"]
    assert task["componentRef"] == {"name": "comp-inner"}
    assert task["inputs"] == {"parameters": {"x": {"componentInputParameter": "x"}}}
    component = ir["components"]["comp-inner"]
    assert component["outputDefinitions"] == {
        "artifacts": {"data": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}},
        "parameters": {"doubled": {"parameterType": "NUMBER_INTEGER"}},
    }
    assert component["dag"]["outputs"]["artifacts"]["data"] == {
        "artifactSelectors": [{"outputArtifactKey": "out", "producerSubtask": "write"}]
    }
    assert component["inputDefinitions"]["parameters"]["text"]["defaultValue"] == "hello"
    assert ir["root"]["dag"]["tasks"]["double"]["inputs"]["parameters"]["x"] == {
        "taskOutputParameter": {"outputParameterKey": "doubled", "producerTask": "inner"}
    }
    load_text(runner.compile_to_text(outer))


def test_load_component_inlines_a_component_file_and_nests_a_pipeline_file(tmp_path: Path) -> None:
    (tmp_path / "double.yaml").write_text(runner.compile_to_text(double))
    (tmp_path / "inner.yaml").write_text(runner.compile_to_text(inner))
    loaded_double = load_component(tmp_path / "double.yaml")
    loaded_inner = load_component(tmp_path / "inner.yaml")
    assert isinstance(loaded_double, YamlComponent) and isinstance(loaded_inner, YamlGraphComponent)
    assert set(loaded_inner.inputs) == {"x", "text"} and set(loaded_inner.outputs) == {"doubled", "data"}

    @runner.pipeline(name="reuse")
    def reuse(x: int = 2) -> int:
        nested = loaded_inner(x=x)
        return loaded_double(x=nested.outputs["doubled"]).output

    ir = runner.compile(reuse)
    assert ir["root"]["dag"]["tasks"]["double"]["componentRef"] == {"name": "comp-double"}
    assert ir["components"]["comp-inner"]["dag"]["tasks"]["double"]["componentRef"] == {"name": "comp-double"}
    assert sorted(ir["components"]) == ["comp-double", "comp-inner", "comp-write"]
    assert ir == runner.compile(_same_pipeline_from_python())


def _same_pipeline_from_python() -> Any:
    @runner.pipeline(name="reuse")
    def reuse(x: int = 2) -> int:
        nested = inner(x=x)
        return double(x=nested.outputs["doubled"]).output

    return reuse


def test_a_kfp_compiled_component_file_loads_as_a_component(tmp_path: Path) -> None:
    @kfp.dsl.component(base_image="python:3.11", install_kfp_package=False)
    def triple(x: int) -> int:
        return 3 * x

    compiler.Compiler().compile(triple, str(tmp_path / "triple.yaml"))
    loaded = load_component(tmp_path / "triple.yaml")
    assert isinstance(loaded, YamlComponent)

    @runner.pipeline
    def uses_kfp(x: int = 1) -> int:
        return double(x=loaded(x=x).output).output

    ir = runner.compile(uses_kfp)
    command = ir["deploymentSpec"]["executors"]["exec-triple"]["container"]["command"]
    assert "kfp.dsl.executor_main" in " ".join(command)
    assert ir["root"]["dag"]["tasks"]["double"]["dependentTasks"] == ["triple"]


def test_loading_a_bad_file_names_the_place() -> None:
    import pytest

    from runner.errors import SpecError

    with pytest.raises(SpecError, match="<string>"):
        load_component_from_text("root: {}\n")


@runner.component
def condition(x: int) -> int:
    return x


def test_task_names_are_unique_in_the_pipeline_even_against_group_names() -> None:
    @runner.pipeline
    def names(x: int = 1):
        condition(x=x)
        with runner.If(x > 1):
            condition(x=x)
        condition(x=x)

    ir = runner.compile(names)
    assert sorted(ir["root"]["dag"]["tasks"]) == ["condition", "condition-1", "condition-3"]
    assert list(ir["components"]["comp-condition-1"]["dag"]["tasks"]) == ["condition-2"]
