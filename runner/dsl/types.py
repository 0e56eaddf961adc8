"""The IR's interface types: input and output specs of components, defaults, and type compatibility."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from runner.dsl.errors import DefinitionError

NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list, tuple),
    "STRUCT": (dict,),
}


@dataclass(frozen=True)
class IOSpec:
    """One input or output of a component: a parameter (IR parameter type) or an artifact (schema title)."""

    name: str
    kind: Literal["parameter", "artifact"]
    type: str
    schema_version: str = "0.0.1"
    is_list: bool = False
    optional: bool = False
    default: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def ir(self) -> dict[str, Any]:
        """The entry of inputDefinitions/outputDefinitions, as kfp writes it."""
        if self.kind == "artifact":
            node: dict[str, Any] = {
                "artifactType": {"schemaTitle": self.type, "schemaVersion": self.schema_version}
            }
            if self.is_list:
                node["isArtifactList"] = True
        else:
            node = {"parameterType": self.type}
            if self.has_default and self.default is not None:
                node["defaultValue"] = self.default
        if self.optional or self.has_default:
            node["isOptional"] = True
        return node


def interface_ir(specs: dict[str, IOSpec]) -> dict[str, Any]:
    """inputDefinitions or outputDefinitions: {"parameters": ..., "artifacts": ...}, empty parts left out."""
    result: dict[str, Any] = {}
    params = {n: s.ir() for n, s in specs.items() if s.kind == "parameter"}
    arts = {n: s.ir() for n, s in specs.items() if s.kind == "artifact"}
    if arts:
        result["artifacts"] = arts
    if params:
        result["parameters"] = params
    return result


def spec_from_entry(name: str, entry: dict[str, Any]) -> IOSpec:
    """An IOSpec from one entry of the executor's signature description (runner.executor.describe)."""
    if entry["kind"] == "artifact":
        return IOSpec(
            name,
            "artifact",
            entry["type"],
            schema_version=entry.get("version", "0.0.1"),
            is_list=bool(entry.get("list")),
            optional=bool(entry.get("optional")),
        )
    return IOSpec(name, "parameter", entry["type"], optional=bool(entry.get("optional")))


def spec_from_ir(name: str, node: dict[str, Any], kind: Literal["parameter", "artifact"]) -> IOSpec:
    """An IOSpec from an inputDefinitions/outputDefinitions entry of a loaded YAML."""
    if kind == "artifact":
        atype = node.get("artifactType") or {}
        return IOSpec(
            name,
            "artifact",
            str(atype.get("schemaTitle", "system.Artifact")),
            schema_version=str(atype.get("schemaVersion", "0.0.1")),
            is_list=bool(node.get("isArtifactList")),
            optional=bool(node.get("isOptional")),
        )
    return IOSpec(
        name,
        "parameter",
        str(node.get("parameterType", "STRING")),
        optional=bool(node.get("isOptional")),
        default=node.get("defaultValue", NO_DEFAULT),
    )


def is_value_of(value: Any, ptype: str) -> bool:
    """Whether a Python constant fits an IR parameter type (bool is not a number here)."""
    if value is None:
        return True
    if isinstance(value, bool) and ptype in ("NUMBER_INTEGER", "NUMBER_DOUBLE"):
        return False
    return isinstance(value, _PYTHON_TYPES.get(ptype, (object,)))


def json_value(value: Any, where: str) -> Any:
    """`value` as plain JSON data (lists, dicts, str, finite numbers, bool, None), or DefinitionError."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{value!r} cannot be written into the pipeline file ({exc})", where) from None
    return json.loads(text)


def ir_default(value: Any, ptype: str, where: str) -> Any:
    """A parameter default checked against its type and made JSON data."""
    if isinstance(value, float) and not math.isfinite(value):
        raise DefinitionError(f"default {value!r} cannot be written into the pipeline file", where)
    if not is_value_of(value, ptype):
        raise DefinitionError(f"default {value!r} is not {describe_type(ptype)}", where)
    return json_value(list(value) if isinstance(value, tuple) else value, where)


def describe_type(ptype: str) -> str:
    """The Python type of an IR parameter type, with its article: "an int"."""
    return {
        "STRING": "a str",
        "NUMBER_INTEGER": "an int",
        "NUMBER_DOUBLE": "a float",
        "BOOLEAN": "a bool",
        "LIST": "a list",
        "STRUCT": "a dict",
        "TASK_FINAL_STATUS": "a PipelineTaskFinalStatus",
    }.get(ptype, ptype)


def parameters_compatible(given: str | None, wanted: str) -> bool:
    """Whether an output of type `given` may feed an input of type `wanted` (None: not known until run)."""
    return given is None or given == wanted or (given, wanted) == ("NUMBER_INTEGER", "NUMBER_DOUBLE")


def artifacts_compatible(given: str, wanted: str) -> bool:
    """kfp's rule: system.Artifact on either side matches anything; otherwise titles must be equal."""
    return "system.Artifact" in (given, wanted) or given == wanted


def kebab(name: str) -> str:
    """A component or task name from a Python name, as kfp makes it: `prepare_data` -> `prepare-data`."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text or "component"
