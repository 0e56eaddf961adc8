"""runner.engine.placeholders.render: KFP v2 placeholders in command and args, from an ExecutorInput."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.engine.placeholders import Context, fill, render, template
from runner.errors import SpecError

EXECUTOR_INPUT: dict[str, Any] = {
    "inputs": {
        "parameterValues": {
            "text": "hello world",
            "count": 3,
            "ratio": 0.5,
            "flag": True,
            "items": [1, "a"],
            "config": {"k": "v"},
            "empty": "",
            "nothing": None,
        },
        "artifacts": {
            "data": {
                "artifacts": [
                    {
                        "name": "data",
                        "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"},
                        "uri": "/flow/run1/produce/data",
                        "metadata": {"rows": 10, "source": "csv"},
                    }
                ]
            },
        },
    },
    "outputs": {
        "parameters": {"score": {"outputFile": "/flow/run1/train/score"}},
        "artifacts": {
            "model": {
                "artifacts": [
                    {
                        "name": "model",
                        "type": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"},
                        "uri": "/flow/run1/train/model",
                        "metadata": {},
                    }
                ]
            }
        },
        "outputFile": "/flow/run1/train/executor_output.json",
    },
}
CONTEXT = Context(
    EXECUTOR_INPUT, {"pipeline_job_name": "demo-run1", "pipeline_root": "/flow"}, "task 'train'"
)


def one(argument: str) -> str:
    [rendered] = render([argument], CONTEXT)
    return rendered


def if_present(name: str, then: Any, otherwise: Any = None) -> str:
    spec = {"InputName": name, "Then": then}
    if otherwise is not None:
        spec["Else"] = otherwise
    return json.dumps({"IfPresent": spec})


def test_plain_arguments_pass_through() -> None:
    assert render(["python", "-m", "train", "{not a placeholder}"], CONTEXT) == [
        "python",
        "-m",
        "train",
        "{not a placeholder}",
    ]


def test_whole_executor_input() -> None:
    assert json.loads(one("{{$}}")) == EXECUTOR_INPUT


# As the KFP backend's driver writes them (pbValueToString): lists and dicts as Go's compact JSON.
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text", "hello world"),
        ("count", "3"),
        ("ratio", "0.5"),
        ("flag", "true"),
        ("items", '[1,"a"]'),
        ("config", '{"k":"v"}'),
        ("empty", ""),
    ],
)
def test_input_parameters(name: str, expected: str) -> None:
    assert one(f"{{{{$.inputs.parameters['{name}']}}}}") == expected


def test_input_parameter_with_double_quotes_and_inside_text() -> None:
    assert one("--n={{$.inputs.parameters[\"count\"]}}x{{$.inputs.parameters['flag']}}") == "--n=3xtrue"


def test_input_parameter_without_a_value() -> None:
    with pytest.raises(SpecError, match="'missing'"):
        one("{{$.inputs.parameters['missing']}}")


def test_input_artifact_path_uri_and_metadata() -> None:
    assert one("{{$.inputs.artifacts['data'].path}}") == "/flow/run1/produce/data"
    assert one("{{$.inputs.artifacts['data'].uri}}") == "/flow/run1/produce/data"
    assert json.loads(one("{{$.inputs.artifacts['data'].metadata}}")) == {"rows": 10, "source": "csv"}
    assert one("{{$.inputs.artifacts['data'].metadata['rows']}}") == "10"
    assert one("{{$.inputs.artifacts['data'].metadata['source']}}") == "csv"


def test_input_artifact_not_provided() -> None:
    with pytest.raises(SpecError, match="input artifact 'nope'"):
        one("{{$.inputs.artifacts['nope'].path}}")


def test_outputs() -> None:
    assert one("{{$.outputs.artifacts['model'].path}}") == "/flow/run1/train/model"
    assert one("{{$.outputs.artifacts['model'].uri}}") == "/flow/run1/train/model"
    assert one("{{$.outputs.parameters['score'].output_file}}") == "/flow/run1/train/score"
    assert one("{{$.outputs.output_file}}") == "/flow/run1/train/executor_output.json"


@pytest.mark.parametrize(
    "argument", ["{{$.outputs.artifacts['nope'].path}}", "{{$.outputs.parameters['nope'].output_file}}"]
)
def test_unknown_outputs(argument: str) -> None:
    with pytest.raises(SpecError, match="'nope'"):
        one(argument)


def test_pipeline_values() -> None:
    assert one("job={{$.pipeline_job_name}} root={{$.pipeline_root}}") == "job=demo-run1 root=/flow"


@pytest.mark.parametrize("argument", ["{{$.pipeline_nope}}", "{{$.inputs.parameters}}", "{{$.outputs.foo}}"])
def test_unknown_placeholder(argument: str) -> None:
    with pytest.raises(SpecError) as info:
        one(argument)
    assert "unknown placeholder" in str(info.value)
    assert "task 'train'" in str(info.value)


def test_concat() -> None:
    argument = json.dumps(
        {"Concat": ["--count=", "{{$.inputs.parameters['count']}}", "/", "{{$.pipeline_root}}"]}
    )
    assert render(["run", argument], CONTEXT) == ["run", "--count=3//flow"]


def test_if_present_with_a_then_list() -> None:
    argument = if_present("count", ["--count", "{{$.inputs.parameters['count']}}"])
    assert render(["a", argument, "z"], CONTEXT) == ["a", "--count", "3", "z"]


def test_if_present_for_an_artifact() -> None:
    assert render([if_present("data", "{{$.inputs.artifacts['data'].path}}")], CONTEXT) == [
        "/flow/run1/produce/data"
    ]


@pytest.mark.parametrize("name", ["missing", "nothing"])  # no value at all, or a None value
def test_if_present_absent_drops_the_argument(name: str) -> None:
    assert render(["a", if_present(name, ["--x", "1"]), "z"], CONTEXT) == ["a", "z"]


def test_if_present_absent_takes_else() -> None:
    assert render(
        [if_present("missing", ["--x"], ["--default", "{{$.inputs.parameters['count']}}"])], CONTEXT
    ) == ["--default", "3"]


def test_if_present_with_a_string_present_but_empty() -> None:
    assert render([if_present("empty", "--empty-given")], CONTEXT) == ["--empty-given"]


def test_concat_nested_in_if_present() -> None:
    argument = if_present("text", [{"Concat": ["--text=", "{{$.inputs.parameters['text']}}"]}])
    assert render([argument], CONTEXT) == ["--text=hello world"]


def test_json_that_is_not_a_structure_is_an_argument() -> None:
    argument = '{"key": "{{$.inputs.parameters[\'count\']}}"}'
    assert render([argument], CONTEXT) == ['{"key": "3"}']


def test_unsupported_structure() -> None:
    with pytest.raises(SpecError, match="unsupported placeholder structure"):
        render([json.dumps({"Concat": [1]})], CONTEXT)


def test_a_template_fills_pipeline_values_as_render_does() -> None:
    arguments = ["echo", "job={{$.pipeline_job_name}} root={{$.pipeline_root}}", "{{$.pipeline_root}}", "{}"]
    prepared = template(arguments, CONTEXT.pipeline_values)
    assert prepared is not None
    assert fill(prepared, CONTEXT.pipeline_values) == render(arguments, CONTEXT)
    assert fill(prepared, {"pipeline_job_name": "other", "pipeline_root": "/r"}) == [
        "echo",
        "job=other root=/r",
        "/r",
        "{}",
    ]


@pytest.mark.parametrize(
    "argument",
    [
        "{{$}}",
        "{{$.inputs.parameters['count']}}",
        "--out={{$.outputs.artifacts['model'].path}}",
        "{{$.pipeline_nope}}",  # not a known value: render reports it
        json.dumps({"Concat": ["{{$.pipeline_root}}", "/x"]}),
        if_present("count", "{{$.pipeline_root}}"),
    ],
)
def test_arguments_that_need_more_than_pipeline_values_have_no_template(argument: str) -> None:
    assert template(["echo", argument], CONTEXT.pipeline_values) is None
