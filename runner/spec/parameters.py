"""Pipeline parameters checked against the root's typed inputs before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.errors import ParameterError
from runner.spec.model import PipelineSpec
from runner.spec.parameter_types import check_parameter, parse_text
from runner.suggestions import did_you_mean


def bind(spec: PipelineSpec, given: Mapping[str, Any], *, as_text: bool = False) -> dict[str, Any]:
    """The root's parameter values: given ones typed (parsed first when `as_text`, as from `-p name=value`),
    defaults for the rest. Unknown names, missing required values and wrong types raise ParameterError."""
    declared = spec.root.inputs.parameters
    for name in given:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ParameterError(
                f"unknown parameter {name!r} (the pipeline takes: {known}){did_you_mean(name, declared)}",
                spec.source,
            )
    values: dict[str, Any] = {}
    for name, definition in declared.items():
        where = f"{spec.source}: parameter {name!r}"
        if name in given and given[name] is None and not definition.optional:
            raise ParameterError(
                f"required parameter {name!r} ({definition.type}) cannot be None", spec.source
            )
        if name in given:
            raw = given[name]
            value = parse_text(raw, definition.type, where) if as_text else raw
            values[name] = check_parameter(value, definition.type, where)
        elif definition.has_default:
            values[name] = check_parameter(definition.default, definition.type, where)
        elif not definition.optional:
            raise ParameterError(f"required parameter {name!r} ({definition.type}) has no value", spec.source)
    return values


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ParameterError(f"expected NAME=VALUE, got {pair!r}", "-p")
        result[name] = value
    return result
