"""Task inputs as the KFP backend resolves them (kubeflow/pipelines backend/src/v2/driver and its launcher):
placeholders inside constants (kfp's f-strings), type conversion, and resources taken from parameters.
On the FakeBackend: what the engine hands a backend. test_conformance runs kfp-compiled pipelines for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from irbuild import Pipeline, const, from_input, task

import runner
from backends.base import TaskSpec
from backends.fake import FakeBackend, executor_input
from runner import RunResult
from runner.engine.inputs import INPUT_PLACEHOLDER
from runner.engine.texts import argument_text, go_json, value_text
from runner.errors import SpecError
from runner.store import SQLiteStore, TaskState

CHANNEL = "{{$.inputs.parameters['pipelinechannel--x']}}"


class Ran:
    def __init__(self, result: RunResult, backend: FakeBackend) -> None:
        self.result, self.backend = result, backend

    def spec(self, path: str) -> TaskSpec:
        return next(s for s in self.backend.submitted if s.task_path == path)

    def params(self, path: str) -> dict[str, Any]:
        values: dict[str, Any] = executor_input(self.spec(path))["inputs"]["parameterValues"]
        return values

    def state(self, path: str) -> TaskState:
        return self.result.tasks[path].state

    def error(self, path: str) -> str:
        return self.result.tasks[path].error


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    store = SQLiteStore(tmp_path / "db")

    def go(pipeline: Pipeline, params: dict[str, Any] | None = None) -> Ran:
        backend = FakeBackend()
        result = runner.run(
            pipeline.yaml(), backend=backend, params=params, root=tmp_path / "root", store=store
        )
        return Ran(result, backend)

    yield go
    store.close()


def use(value: Any, ptype: str = "STRING", **channels: Any) -> Pipeline:
    """One task `use` whose input `v` (of type `ptype`) gets the constant `value`; each keyword is bound to
    the task as the constant input `pipelinechannel--NAME`, as kfp binds the channels of an f-string."""
    pipeline = Pipeline().container("comp-use", inputs={"v": ptype}, args=["{{$.inputs.parameters['v']}}"])
    bindings = {f"pipelinechannel--{name}": const(item) for name, item in channels.items()}
    return pipeline.root({"use": task("comp-use", v=const(value), **bindings)})


# -- placeholders inside constants (item: f-strings) ------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "text"),
    [
        ("hi", "foo-hi"),
        (3, "foo-3"),
        # All numbers are doubles on Kubeflow; its launcher writes them in plain decimal notation.
        (3.0, "foo-3"),
        (2.5, "foo-2.5"),
        (0.00001, "foo-0.00001"),
        (True, "foo-true"),
        # Lists and dicts as Go's encoding/json writes them: compact, keys sorted.
        ([1, "a"], 'foo-[1,"a"]'),
        ({"b": 1, "a": [2.0]}, 'foo-{"a":[2],"b":1}'),
    ],
)
def test_an_f_string_gets_the_text_of_its_channel(run: Any, x: Any, text: str) -> None:
    ran = run(use(f"foo-{CHANNEL}", x=x))
    assert ran.params("use")["v"] == text
    assert list(ran.spec("use").args) == [text]


def test_several_placeholders_and_the_channels_stay_inputs(run: Any) -> None:
    a, b = "{{$.inputs.parameters['pipelinechannel--a']}}", "{{$.inputs.parameters['pipelinechannel--b']}}"
    template = f"{a} and {b} <= 5!"
    ran = run(use(template, a="x", b=3))
    # The backend passes the channel inputs to the task too (they are in its ExecutorInput).
    assert ran.params("use") == {"v": "x and 3 <= 5!", "pipelinechannel--a": "x", "pipelinechannel--b": 3}


def test_placeholders_inside_a_list_or_dict_constant_become_text(run: Any) -> None:
    """kfp compiles `[x, n]` and `{"k": n}` with channels into constants holding placeholders; the launcher
    substitutes them as text, so a number in such a list arrives as the string "3"."""
    ran = run(use([CHANNEL, "c"], "LIST", x=3))
    assert ran.params("use")["v"] == ["3", "c"]
    ran = run(use({"k": CHANNEL, "n": 1}, "STRUCT", x="hi"))
    assert ran.params("use")["v"] == {"k": "hi", "n": 1}


def test_substitution_is_one_pass_and_only_in_constants(run: Any) -> None:
    """A value that reads like a placeholder is data: it is not expanded again, and a run parameter holding a
    placeholder is not expanded at all (a pipeline's user cannot make a task read another input)."""
    ran = run(use(f"<{CHANNEL}>", x="{{$.inputs.parameters['pipelinechannel--y']}}", y="secret"))
    assert ran.params("use")["v"] == "<{{$.inputs.parameters['pipelinechannel--y']}}>"
    pipeline = Pipeline().container("comp-use", inputs={"v": "STRING"})
    pipeline.root(
        {"use": task("comp-use", v=from_input("p"), **{"pipelinechannel--y": const("secret")})},
        inputs={"p": "STRING"},
    )
    ran = run(pipeline, {"p": "{{$.inputs.parameters['pipelinechannel--y']}}"})
    assert ran.params("use")["v"] == "{{$.inputs.parameters['pipelinechannel--y']}}"


def test_a_placeholder_whose_input_has_no_value_fails_the_task(run: Any) -> None:
    """kfp binds an f-string's channel to an optional pipeline input; with no value, the backend's driver
    fails the task (the input resolves to null). flow fails it too, with one line, before it starts."""
    pipeline = Pipeline().container("comp-use", inputs={"v": "STRING"})
    pipeline.root(
        {"use": task("comp-use", v=const(f"opt={CHANNEL}"), **{"pipelinechannel--x": from_input("opt")})},
        inputs={"opt": "STRING"},
    )
    pipeline.doc["root"]["inputDefinitions"]["parameters"]["opt"]["isOptional"] = True
    ran = run(pipeline)
    assert ran.state("use") == TaskState.FAILED and not ran.backend.submitted
    assert ran.error("use") == "input 'v' refers to input parameter 'pipelinechannel--x', which has no value"


# -- type conversion (item: coercion) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        ([1, {"a": None}], '[1,{"a":null}]'),
        ({"z": 1, "a": 2}, '{"a":2,"z":1}'),
    ],
)
def test_a_string_input_takes_any_value_as_its_text(run: Any, value: Any, text: str) -> None:
    """The driver converts a non-string value given to a STRING input to text instead of failing: "all
    parameter types can be consumed as JSON string" (resolve.go, metadata.PbValueToText)."""
    ran = run(use(value))
    assert ran.state("use") == TaskState.SUCCEEDED
    assert ran.params("use")["v"] == text


def test_any_number_is_a_number(run: Any) -> None:
    """The backend has one number type and checks only that an integer or double input holds a number: 2.5
    reaches an integer input as it is (the component sees 2.5 on Kubeflow too), 3 a double one."""
    assert run(use(2.5, "NUMBER_INTEGER")).params("use")["v"] == 2.5
    assert run(use(3, "NUMBER_DOUBLE")).params("use")["v"] == 3


@pytest.mark.parametrize(
    ("value", "ptype"),
    [("three", "NUMBER_INTEGER"), (True, "NUMBER_DOUBLE"), (1, "BOOLEAN"), ("[1]", "LIST"), ([1], "STRUCT")],
)
def test_other_mismatches_fail_the_task(run: Any, value: Any, ptype: str) -> None:
    """The driver converts only towards STRING; a string is not parsed as a number, list or dict."""
    ran = run(use(value, ptype))
    assert ran.state("use") == TaskState.FAILED and not ran.backend.submitted
    assert "expected" in ran.error("use")


def test_the_executor_input_writes_whole_doubles_as_integers(run: Any) -> None:
    """protobuf's JSON writes the double 3 as `3`: a kfp component's `x: float` gets the int 3 on Kubeflow."""
    pipeline = Pipeline().container("comp-use", inputs={"v": "NUMBER_DOUBLE"}, args=["{{$}}"])
    ran = run(pipeline.root({"use": task("comp-use", v=const(3.0))}))
    assert '"parameterValues": {"v": 3}' in ran.spec("use").args[0]


# -- resources from parameters -----------------------------------------------------------------------------


def resourced(fields: dict[str, Any], **values: Any) -> Pipeline:
    """A task whose container's resources are `fields` (IR names), with constant inputs `values`."""
    pipeline = Pipeline().container("comp-use")
    pipeline.doc["deploymentSpec"]["executors"]["exec-comp-use"]["container"]["resources"] = fields
    return pipeline.root({"use": task("comp-use", **{k: const(v) for k, v in values.items()})})


def placeholder(name: str) -> str:
    return f"{{{{$.inputs.parameters['{name}']}}}}"


def test_resource_fields_come_from_the_task_inputs(run: Any) -> None:
    fields = {
        "resourceCpuLimit": placeholder("cpu"),
        "resourceCpuRequest": placeholder("cpu"),
        "resourceMemoryLimit": placeholder("mem"),
        "resourceMemoryRequest": placeholder("mem"),
        "accelerator": {"resourceType": placeholder("acc"), "resourceCount": placeholder("n")},
    }
    ran = run(resourced(fields, cpu="500m", mem="64Mi", acc="nvidia.com/gpu", n="2"))
    resources = ran.spec("use").resources
    assert (resources.cpu_limit, resources.cpu_request) == (0.5, 0.5)
    assert (resources.memory_limit, resources.memory_request) == (64 * 2**20, 64 * 2**20)
    assert (resources.accelerator_type, resources.accelerator_count) == ("nvidia.com/gpu", 2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("resourceCpuLimit", "lots", "not a CPU quantity: 'lots'"),
        ("resourceCpuLimit", "-1", "not a CPU quantity: '-1'"),
        ("resourceMemoryLimit", "64Zi", "not a memory quantity: '64Zi'"),
        ("resourceMemoryLimit", "", "not a memory quantity: ''"),
        # The driver reads these with GetStringValue: a number gives "" there, which no quantity parses.
        ("resourceCpuLimit", 2, "2 is not a string (Kubeflow reads resources from strings)"),
    ],
)
def test_a_bad_resolved_resource_fails_the_task_with_one_line(
    run: Any, field: str, value: Any, message: str
) -> None:
    ran = run(resourced({field: placeholder("v")}, v=value))
    assert ran.state("use") == TaskState.FAILED and not ran.backend.submitted
    error = ran.error("use")
    assert error == f"resources.{field} from input 'v': {message}"


def test_a_resource_input_with_no_value_fails_the_task(run: Any) -> None:
    ran = run(resourced({"resourceMemoryLimit": placeholder("nothing")}))
    assert ran.state("use") == TaskState.FAILED
    assert ran.error("use") == "resources.resourceMemoryLimit from input 'nothing': the input has no value"


def test_literal_resources_are_still_checked_when_the_pipeline_loads(run: Any) -> None:
    with pytest.raises(SpecError, match="not a CPU quantity: 'lots'"):
        run(resourced({"resourceCpuLimit": "lots"}))
    with pytest.raises(SpecError, match="not an accelerator count: 'two'"):
        run(resourced({"accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "two"}}))


# -- the texts themselves -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "launcher", "driver"),
    [
        (0.1, "0.1", "0.1"),
        (1e-7, "0.0000001", "1e-07"),
        (1234567.5, "1234567.5", "1.2345675e+06"),
        (1e21, "1000000000000000000000", "1000000000000000000000"),
        (-2.0, "-2", "-2"),
    ],
)
def test_numbers_are_written_as_the_launcher_and_the_driver_write_them(
    value: float, launcher: str, driver: str
) -> None:
    """The launcher (f-strings, STRING conversion) uses strconv.FormatFloat(n, 'f', -1); the driver, for a
    placeholder in a command line, `%d` for whole numbers and `%g` for the others."""
    assert value_text(value) == launcher
    assert argument_text(value) == driver


def test_json_is_written_as_go_writes_it() -> None:
    assert go_json({"b": [1.0, 1e-7, 1e22], "a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e","b":[1,1e-7,1e+22]}'


def test_a_value_nested_too_deeply_fails_its_task_not_the_engine(run: Any) -> None:
    """A value may be a list nested hundreds deep (JSON allows it); written as text for an f-string, it
    fails that task with one line."""
    deep: list[Any] = []
    for _ in range(600):
        deep = [deep]
    pipeline = Pipeline().container("comp-use", inputs={"v": "STRING"})
    pipeline.root(
        {"use": task("comp-use", v=const(f"<{CHANNEL}>"), **{"pipelinechannel--x": from_input("p")})},
        inputs={"p": "LIST"},
    )
    ran = run(pipeline, {"p": deep})
    assert ran.state("use") == TaskState.FAILED
    assert ran.error("use") == "a parameter value is nested too deeply to be written as text"


def test_a_hostile_run_of_unclosed_placeholders_is_read_in_one_pass() -> None:
    """A name stops at its quote. With `(.+?)`, as the backend's pattern has it, each unclosed placeholder
    would scan to the text's end: a pipeline file could hold the engine for as long as its length squared."""
    text = "{{$.inputs.parameters['" * 20_000 + "x']}}"
    assert INPUT_PLACEHOLDER.findall(text) == ["x"]


def test_a_rerun_gives_the_resources_the_values_the_task_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The component does not declare the inputs its resources name; the rerun binds them all the same."""
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    pipeline = resourced({"resourceCpuLimit": placeholder("pipelinechannel--cpu")})
    pipeline.doc["root"]["dag"]["tasks"]["use"]["inputs"] = {
        "parameters": {"pipelinechannel--cpu": {"componentInputParameter": "cpu"}}
    }
    pipeline.doc["root"]["inputDefinitions"] = {"parameters": {"cpu": {"parameterType": "STRING"}}}
    with SQLiteStore(tmp_path / "db") as store:
        first = runner.run(
            pipeline.yaml(),
            backend=FakeBackend(),
            root=tmp_path / "root",
            store=store,
            params={"cpu": "250m"},
        )
        backend = FakeBackend()
        again = runner.rerun(first.run_id, "use", backend=backend, store=store)
    assert again.succeeded
    (spec,) = backend.submitted
    assert spec.resources.cpu_limit == 0.25
    assert again.tasks["use"].component_digest == first.tasks["use"].component_digest
