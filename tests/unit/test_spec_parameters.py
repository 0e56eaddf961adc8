"""runner.spec.parameters.bind: pipeline parameters typed against the root's inputs, from values or text."""

from __future__ import annotations

from typing import Any

import pytest
from irbuild import Pipeline, from_input, task

from runner.errors import ParameterError, SpecError
from runner.spec import PipelineSpec, load_text
from runner.spec.parameters import bind, parse_assignments


def spec_with(
    inputs: dict[str, str], defaults: dict[str, Any] | None = None, optional: tuple[str, ...] = ()
) -> PipelineSpec:
    pipeline = Pipeline("params").container("comp-use", inputs=inputs)
    pipeline.root(
        {"use": task("comp-use", **{n: from_input(n) for n in inputs})}, inputs=inputs, defaults=defaults
    )
    for name in optional:
        pipeline.doc["root"]["inputDefinitions"]["parameters"][name]["isOptional"] = True
    return load_text(pipeline.yaml(), "params.yaml")


def bind_one(ptype: str, value: Any, *, as_text: bool = False) -> Any:
    return bind(spec_with({"p": ptype}), {"p": value}, as_text=as_text)["p"]


@pytest.mark.parametrize(
    ("ptype", "value", "expected"),
    [
        ("STRING", "hello", "hello"),
        ("STRING", "", ""),
        ("NUMBER_INTEGER", 2, 2),
        ("NUMBER_INTEGER", 2.0, 2),
        ("NUMBER_INTEGER", -7, -7),
        ("NUMBER_DOUBLE", 1.5, 1.5),
        ("NUMBER_DOUBLE", 3, 3.0),
        ("BOOLEAN", True, True),
        ("BOOLEAN", False, False),
        ("LIST", [1, "a"], [1, "a"]),
        ("LIST", (1, 2), [1, 2]),
        ("STRUCT", {"a": {"b": 1}}, {"a": {"b": 1}}),
    ],
)
def test_python_values_of_the_right_type(ptype: str, value: Any, expected: Any) -> None:
    bound = bind_one(ptype, value)
    assert bound == expected
    assert type(bound) is type(expected)


@pytest.mark.parametrize(
    ("ptype", "value"),
    [
        ("STRING", 3),
        ("STRING", ["a"]),
        ("NUMBER_INTEGER", 2.5),
        ("NUMBER_INTEGER", True),
        ("NUMBER_INTEGER", "2"),
        ("NUMBER_DOUBLE", False),
        ("NUMBER_DOUBLE", "1.5"),
        ("BOOLEAN", 1),
        ("BOOLEAN", "true"),
        ("LIST", {"a": 1}),
        ("LIST", "[1]"),
        ("STRUCT", [1]),
        ("STRUCT", "{}"),
    ],
)
def test_python_values_of_the_wrong_type(ptype: str, value: Any) -> None:
    with pytest.raises(ParameterError) as info:
        bind_one(ptype, value)
    assert "parameter 'p'" in str(info.value)
    assert "params.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("ptype", "text", "expected"),
    [
        ("STRING", "true", "true"),
        ("STRING", "[1,2]", "[1,2]"),
        ("NUMBER_INTEGER", "3", 3),
        ("NUMBER_INTEGER", " -3 ", -3),
        ("NUMBER_DOUBLE", "3", 3.0),
        ("NUMBER_DOUBLE", "0.25", 0.25),
        ("BOOLEAN", "true", True),
        ("BOOLEAN", "False", False),
        ("LIST", "[1,2]", [1, 2]),
        ("LIST", '["a", {"b": null}]', ["a", {"b": None}]),
        ("STRUCT", '{"a":1}', {"a": 1}),
    ],
)
def test_text_values(ptype: str, text: str, expected: Any) -> None:
    bound = bind_one(ptype, text, as_text=True)
    assert bound == expected
    assert type(bound) is type(expected)


@pytest.mark.parametrize(
    ("ptype", "text"),
    [
        ("NUMBER_INTEGER", "2.5"),
        ("NUMBER_INTEGER", "two"),
        ("NUMBER_DOUBLE", "x"),
        ("BOOLEAN", "yes"),
        ("BOOLEAN", "1"),
        ("LIST", '{"a":1}'),
        ("LIST", "[1,"),
        ("STRUCT", "[1,2]"),
        ("STRUCT", "a=1"),
    ],
)
def test_text_values_of_the_wrong_type(ptype: str, text: str) -> None:
    with pytest.raises(ParameterError, match="parameter 'p'"):
        bind_one(ptype, text, as_text=True)


def test_missing_required_parameter() -> None:
    spec = spec_with({"needed": "STRING", "given": "STRING"})
    with pytest.raises(ParameterError, match="required parameter 'needed'"):
        bind(spec, {"given": "x"})


def test_unknown_parameter_names_the_known_ones() -> None:
    spec = spec_with({"alpha": "STRING", "beta": "STRING"})
    with pytest.raises(ParameterError) as info:
        bind(spec, {"alpha": "a", "beta": "b", "gamma": "c"})
    assert "unknown parameter 'gamma'" in str(info.value)
    assert "alpha, beta" in str(info.value)
    assert "did you mean" not in str(info.value)  # gamma is close to neither
    with pytest.raises(ParameterError) as info:
        bind(spec, {"Beta": "b"})
    assert str(info.value).endswith("(the pipeline takes: alpha, beta); did you mean 'beta'?")


def test_defaults_are_applied_and_typed() -> None:
    spec = spec_with(
        {"n": "NUMBER_INTEGER", "s": "STRING", "flag": "BOOLEAN", "opt": "STRING"},
        defaults={"n": 2.0, "s": "dflt", "flag": False},
        optional=("opt",),
    )
    values = bind(spec, {"s": "given"})
    assert values == {"n": 2, "s": "given", "flag": False}
    assert type(values["n"]) is int
    assert "opt" not in values  # optional without a default: left out, not None


def test_default_of_the_wrong_type_is_refused_at_load() -> None:
    expected = r"parameters\.n\.defaultValue: a default that is not a NUMBER_INTEGER"
    with pytest.raises(SpecError, match=expected):
        spec_with({"n": "NUMBER_INTEGER"}, defaults={"n": "three"})


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_assignments(["novalue"])
    with pytest.raises(ParameterError):
        parse_assignments(["=1"])
