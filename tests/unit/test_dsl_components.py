"""@component and @container_component: the interface kfp would write, a self-contained command, reuse."""

# No `from __future__ import annotations`: kfp reads the components' annotations as real types.
# mypy: disable-error-code="no-untyped-def,valid-type"

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Optional

import kfp.dsl
import pytest
import yaml
from kfp import compiler, components

import runner
from runner.dsl import ContainerComponent, PythonComponent, load_component_from_text
from runner.dsl.loading import YamlComponent
from runner.spec import load_text
from tests.unit.irshape import shape


def build_prep(dsl: ModuleType) -> Any:
    options: dict[str, Any] = {"base_image": "python:3.11"}
    if dsl is kfp.dsl:
        options["install_kfp_package"] = False

    @dsl.component(**options)
    def prep(
        n: int,
        data: dsl.Output[dsl.Dataset],
        source: dsl.Input[dsl.Dataset],
        f: float = 0.5,
        s: str = "x",
        b: bool = True,
        items: list = [1, 2],  # noqa: B006
        d: dict = {"a": 1},  # noqa: B006
        o: Optional[str] = None,  # noqa: UP045  (kfp does not take `str | None`)
        maybe: dsl.Input[dsl.Model] = None,
    ) -> NamedTuple("Out", [("count", int), ("name", str)]):
        return (n, s)

    return prep


def test_a_component_alone_compiles_to_kfps_component_file(tmp_path: Path) -> None:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(build_prep(kfp.dsl), str(path))
    theirs = yaml.safe_load(path.read_text())
    mine = runner.compile(build_prep(runner))

    assert shape(mine, executors=True) == shape(theirs, executors=True)
    assert mine["pipelineInfo"] == theirs["pipelineInfo"] == {"name": "prep"}
    assert list(mine["deploymentSpec"]["executors"]) == ["exec-prep"]


@runner.component
def add(a: int, b: int = 2) -> int:
    """Adds."""
    return a + b


def test_called_outside_a_pipeline_it_is_the_plain_function() -> None:
    assert add(1) == 3
    assert add(a=1, b=5) == 6
    assert add.__name__ == "add" and add.__doc__ == "Adds."
    assert isinstance(add, PythonComponent) and add.python_func(2, 2) == 4


def container(component: Any) -> dict[str, Any]:
    ir = runner.compile(component)
    (executor,) = ir["deploymentSpec"]["executors"].values()
    result: dict[str, Any] = executor["container"]
    return result


def test_the_command_embeds_the_function_and_the_executor_and_installs_nothing() -> None:
    spec = container(add)
    assert spec["image"] == "python:3.11"
    assert spec["command"][:2] == ["python3", "-c"]
    assert spec["args"] == ["--executor_input", "{{$}}", "--function_to_execute", "add"]
    _, executor, code = spec["command"][2:]
    assert "def execute(" in executor and "class Metrics(Artifact)" in executor
    assert code.endswith('def add(a: int, b: int = 2) -> int:\n    """Adds."""\n    return a + b\n')
    assert "@runner.component" not in code
    everything = "\n".join(spec["command"])
    assert (
        "pip install" not in everything and "import kfp" not in everything and "from runner" not in everything
    )


def test_the_compiled_command_runs_with_a_bare_interpreter(tmp_path: Path) -> None:
    spec = container(add)
    executor_input = {
        "inputs": {"parameterValues": {"a": 40, "b": 2}},
        "outputs": {
            "parameters": {"Output": {"outputFile": str(tmp_path / "task" / "Output")}},
            "outputFile": str(tmp_path / "task" / "executor_output.json"),
        },
    }
    args = [a.replace("{{$}}", json.dumps(executor_input)) for a in spec["args"]]
    # -I -S: no site-packages, no user paths, no current directory: neither flow nor kfp can be imported
    command = [sys.executable, "-I", "-S", *spec["command"][1:], *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    output = json.loads((tmp_path / "task" / "executor_output.json").read_text())
    assert output == {"parameterValues": {"Output": 42}}


def test_packages_to_install_put_pip_first_as_kfp_does() -> None:
    @runner.component(base_image="python:3.12-slim", packages_to_install=["numpy>=1.26", "pandas"])
    def uses_numpy(x: float) -> float:
        return x

    spec = container(uses_numpy)
    assert spec["image"] == "python:3.12-slim"
    assert spec["command"][:2] == ["sh", "-c"]
    assert (
        "python3 -m pip install --quiet --no-warn-script-location 'numpy>=1.26' pandas"
        ' && exec python3 -c "$0" "$@"' in spec["command"][2]
    )
    assert spec["command"][3].startswith("# flow component")


class Pair(NamedTuple):
    first: int
    second: str


@runner.component
def split(text: str) -> Pair:
    head, tail = text.split(":")
    return Pair(int(head), tail)


def test_a_named_tuple_class_from_the_module_is_recreated_in_the_task() -> None:
    code = container(split)["command"][-1]
    assert "Pair = __import__('collections').namedtuple('Pair', ['first', 'second'])" in code
    outputs = runner.compile(split)["components"]["comp-split"]["outputDefinitions"]["parameters"]
    assert outputs == {"first": {"parameterType": "NUMBER_INTEGER"}, "second": {"parameterType": "STRING"}}


def build_echo(dsl: ModuleType) -> Any:
    @dsl.container_component
    def echo(
        msg: str,
        count: int,
        data: dsl.Input[dsl.Dataset],
        out: dsl.OutputPath(str),
        art: dsl.Output[dsl.Artifact],
    ):
        return dsl.ContainerSpec(
            image="busybox",
            command=["sh", "-c", 'echo "$0 $1" > "$2"'],
            args=[msg, f"--count={count}", out, art.path, data.uri, dsl.ConcatPlaceholder(["a", msg])],
        )

    return echo


def test_container_components_use_kfps_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "kfp.yaml"
    compiler.Compiler().compile(build_echo(kfp.dsl), str(path))
    theirs = yaml.safe_load(path.read_text())
    mine = runner.compile(build_echo(runner))
    assert isinstance(build_echo(runner), ContainerComponent)
    assert mine["deploymentSpec"] == theirs["deploymentSpec"]
    assert shape(mine) == shape(theirs)
    assert mine["deploymentSpec"]["executors"]["exec-echo"]["container"]["args"][:3] == [
        "{{$.inputs.parameters['msg']}}",
        "--count={{$.inputs.parameters['count']}}",
        "{{$.outputs.parameters['out'].output_file}}",
    ]


def test_a_component_file_loads_in_kfp_in_flow_and_back_as_a_component() -> None:
    text = runner.compile_to_text(add)
    assert set(load_text(text).root.dag.tasks) == {"add"}
    theirs = components.load_component_from_text(text)
    assert theirs.name == "add" and set(theirs.component_spec.inputs or {}) == {"a", "b"}

    loaded = load_component_from_text(text)
    assert isinstance(loaded, YamlComponent)
    assert loaded.name == "add"
    assert {n: (s.type, s.default) for n, s in loaded.inputs.items()} == {
        "a": ("NUMBER_INTEGER", loaded.inputs["a"].default),
        "b": ("NUMBER_INTEGER", 2),
    }
    assert not loaded.inputs["a"].has_default
    assert {n: s.type for n, s in loaded.outputs.items()} == {"Output": "NUMBER_INTEGER"}
    assert loaded.container() == container(add)


def test_compiling_something_else_is_a_clear_error() -> None:
    with pytest.raises(runner.DefinitionError, match="compile takes a @pipeline or a component"):
        runner.compile(lambda: None)
