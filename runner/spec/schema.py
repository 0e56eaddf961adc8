"""The pipeline and platform documents checked against KFP's own protobuf schema, before flow reads them.

The schema is the message descriptors of `kfp-pipeline-spec` (PipelineSpec, PipelineDeploymentConfig,
PlatformSpec) and, where installed, of `kfp-kubernetes` (KubernetesExecutorConfig). A document is walked
beside its descriptor with the rules of protobuf's JSON parser (what KFP itself applies when it reads a
pipeline), a little stricter in three places that flow relies on: field names are the JSON (camelCase) ones
kfp writes, enums are given by name, and a message is a mapping. The walk is done here rather than with
`json_format.ParseDict` so that an error names the place in flow's style
(`components.comp-x.executorLabel: ...`) and suggests the nearest field name.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from runner.errors import SpecError
from runner.suggestions import did_you_mean

_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
}
_FLOAT_WORDS = {"NaN", "Infinity", "-Infinity"}
_DURATION = re.compile(r"-?[0-9]+(\.[0-9]{1,9})?s")
_MAX_DURATION_SECONDS = 315_576_000_000  # the range of protobuf's Duration
_JSON_SCALARS = (str, int, float, bool, type(None))


class SchemaError(Exception):
    """A document does not fit the schema: `path` is the place, in flow's dotted style."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class _Field:
    name: str  # the JSON name
    descriptor: FieldDescriptor
    message: Descriptor | None
    repeated: bool
    map_value: FieldDescriptor | None  # for a map field: the descriptor of its values
    oneof: str | None


@functools.cache
def _fields(message: Descriptor) -> dict[str, _Field]:
    found: dict[str, _Field] = {}
    for field in message.fields:
        sub = field.message_type
        map_value = None
        if sub is not None and sub.GetOptions().map_entry:
            map_value = sub.fields_by_name["value"]
        found[field.json_name] = _Field(
            name=field.json_name,
            descriptor=field,
            message=sub,
            repeated=field.is_repeated,
            map_value=map_value,
            oneof=field.containing_oneof.name if field.containing_oneof is not None else None,
        )
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: Any) -> str:
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    kinds |= {int: "an integer", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


class Checker:
    """Walks documents against descriptors; `structs` gives a schema to a Struct field at a place."""

    def __init__(self, structs: Mapping[tuple[str, str], Descriptor | None]) -> None:
        # (message full name, JSON field name) -> the message a Struct there must hold (None: any JSON).
        self.structs = structs

    def message(self, value: Any, message: Descriptor, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"expected a mapping ({message.name}), got {_kind(value)}", path)
        fields = _fields(message)
        oneofs: dict[str, str] = {}
        unset: list[str] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaError(f"field names are strings, got {_short(key)}", path)
            field = fields.get(key)
            where = _join(path, key)
            if field is None:
                raise SchemaError(_unknown_field(key, message, fields), where)
            if item is None:
                if field.message is None or field.message.full_name != "google.protobuf.Value":
                    unset.append(key)  # protobuf's JSON reads null as "not set", but where a Value is null
                continue
            if field.oneof is not None:
                other = oneofs.setdefault(field.oneof, key)
                if other != key:
                    raise SchemaError(f"'{other}' and '{key}' are set, and only one of them may be", where)
            self.field(item, field, where, message)
        for key in unset:
            del value[key]

    def field(self, value: Any, field: _Field, path: str, owner: Descriptor) -> None:
        if field.map_value is not None:
            if not isinstance(value, dict):
                raise SchemaError(f"expected a mapping, got {_kind(value)}", path)
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SchemaError(f"keys are strings, got {_short(key)}", path)
                self.single(item, field.map_value, _join(path, key), owner, field.name, in_map=True)
        elif field.repeated:
            if not isinstance(value, list):
                raise SchemaError(f"expected a list, got {_kind(value)}", path)
            for index, item in enumerate(value):
                self.single(item, field.descriptor, f"{path}[{index}]", owner, field.name, in_map=True)
        else:
            self.single(value, field.descriptor, path, owner, field.name, in_map=False)

    def single(
        self, value: Any, field: FieldDescriptor, path: str, owner: Descriptor, name: str, *, in_map: bool
    ) -> None:
        """One value of a field: the whole field, one element of a list or one value of a map."""
        message = field.message_type
        if message is None:
            if value is None:
                raise SchemaError("null is not allowed here", path)
            _scalar(value, field, path)
            return
        full_name = message.full_name
        if full_name == "google.protobuf.Value":
            _json_value(value, path)
        elif value is None and in_map:
            raise SchemaError("null is not allowed here", path)
        elif full_name == "google.protobuf.Struct":
            schema = self.structs.get((owner.full_name, name))
            if schema is None:
                if not isinstance(value, dict):
                    raise SchemaError(f"expected a mapping, got {_kind(value)}", path)
                _json_value(value, path)
            else:
                self.struct_as(value, schema, path)
        elif full_name == "google.protobuf.ListValue":
            if not isinstance(value, list):
                raise SchemaError(f"expected a list, got {_kind(value)}", path)
            _json_value(value, path)
        elif full_name == "google.protobuf.Duration":
            _duration(value, path)
        elif full_name.startswith("google.protobuf."):
            _well_known(value, message, path)
        else:
            self.message(value, message, path)

    def struct_as(self, value: Any, schema: Descriptor, path: str) -> None:
        """A Struct that KFP reads as a typed message later (the deployment spec, a platform's executors)."""
        if not isinstance(value, dict):
            raise SchemaError(f"expected a mapping ({schema.name}), got {_kind(value)}", path)
        _json_value(value, path)
        self.message(value, schema, path)


def _unknown_field(key: str, message: Descriptor, fields: Mapping[str, _Field]) -> str:
    text = f"unknown field '{key}' (KFP's {message.name} has no such field)"
    by_proto_name = message.fields_by_name.get(key)
    if by_proto_name is not None:
        return f"{text}; did you mean '{by_proto_name.json_name}'?"
    return text + did_you_mean(key, fields)


def _scalar(value: Any, field: FieldDescriptor, path: str) -> None:
    cpp = field.cpp_type
    if field.type == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise SchemaError(f"expected a string, got {_kind(value)} {_short(value)}", path)
    elif cpp == FieldDescriptor.CPPTYPE_BOOL:
        if not isinstance(value, bool):
            raise SchemaError(f"expected true or false, got {_short(value)}", path)
    elif cpp in _INT_RANGES:
        _integer(value, cpp, path)
    elif field.type == FieldDescriptor.TYPE_DOUBLE:
        _number(value, path)
    elif cpp == FieldDescriptor.CPPTYPE_ENUM:
        names = field.enum_type.values_by_name if field.enum_type is not None else {}
        if not isinstance(value, str) or value not in names:
            choices = ", ".join(names)
            raise SchemaError(f"expected one of {choices}; got {_short(value)}", path)
    else:  # bytes, float, unsigned: in no KFP schema yet; refused rather than read by other rules
        raise SchemaError(f"a field of protobuf type {field.type}, which flow does not read", path)


def _integer(value: Any, cpp: int, path: str) -> None:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and " " not in value:
        try:
            number = int(value)
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                as_float = math.nan
            number = int(as_float) if math.isfinite(as_float) and as_float.is_integer() else None
    if number is None:
        raise SchemaError(f"expected an integer, got {_short(value)}", path)
    low, high = _INT_RANGES[cpp]
    if not low <= number <= high:
        raise SchemaError(f"integer {number} is out of range ({low} to {high})", path)


def _number(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SchemaError(f"expected a number, got {_short(value)}", path)
    if isinstance(value, str) and value not in _FLOAT_WORDS:
        try:
            value = float(value)
        except ValueError:
            raise SchemaError(f"expected a number, got {_short(value)}", path) from None
        if math.isnan(value):
            raise SchemaError("expected a number, got NaN (write 'NaN' in quotes)", path)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"expected a number, got {value} (write 'NaN' or 'Infinity' in quotes)", path)
    if isinstance(value, int) and abs(value) > 2**1023:
        raise SchemaError("number too large", path)


def _duration(value: Any, path: str) -> None:
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise SchemaError(
            f"expected a duration in seconds such as '30s' or '1.5s', got {_short(value)}", path
        )
    if abs(float(value[:-1])) > _MAX_DURATION_SECONDS:
        raise SchemaError(f"duration {value} is out of range", path)


def _json_value(value: Any, path: str) -> None:
    """Plain JSON: mappings with string keys, lists, strings, finite numbers, booleans, null."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise SchemaError(f"keys are strings, got {_short(key)}", where)
                if not isinstance(child, _JSON_SCALARS):
                    stack.append((child, _join(where, key)))
                elif type(child) is float and not math.isfinite(child):
                    raise SchemaError(f"{child} is not a JSON number", _join(where, key))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise SchemaError(f"{item} is not a JSON number", where)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**1023:
            raise SchemaError("number too large", where)
        elif not isinstance(item, _JSON_SCALARS):
            raise SchemaError(f"{_kind(item)} is not a JSON value", where)


def _well_known(value: Any, message: Descriptor, path: str) -> None:
    """Other well-known types (none of which kfp writes today): protobuf's own parser decides."""
    from google.protobuf import json_format, message_factory  # rarely needed, and slow to import

    target = message_factory.GetMessageClass(message)()
    try:
        json_format.ParseDict(value, target)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise SchemaError(str(exc).splitlines()[0], path) from None


# -- the schemas ----------------------------------------------------------------------------------------


def _generated(
    distribution: str, relative: str, given: Mapping[str, ModuleType] | None = None
) -> ModuleType | None:
    """A protoc-generated module of an installed distribution, run from its file rather than imported: the
    `kfp` package's __init__ (there when the kfp SDK is installed) imports the whole SDK, which costs far
    more than the schema. Its descriptors go to protobuf's default pool, which accepts the same file again
    when kfp imports it itself. `given`: modules its code imports, handed to it as they are unless already
    imported (only while it runs, once per process). None when the distribution is not installed."""
    from importlib import metadata

    try:
        location = metadata.distribution(distribution).locate_file(relative)
    except metadata.PackageNotFoundError:
        return None
    spec = importlib.util.spec_from_file_location(f"runner.spec.schema.{Path(relative).stem}", str(location))
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    added = {name: value for name, value in (given or {}).items() if name not in sys.modules}
    sys.modules.update(added)
    try:
        spec.loader.exec_module(module)
    finally:
        for name in added:
            del sys.modules[name]
    return module


@functools.cache
def pipeline_schema() -> ModuleType:
    try:
        module = _generated("kfp-pipeline-spec", "kfp/pipeline_spec/pipeline_spec_pb2.py")
    except ImportError as exc:
        raise SpecError(
            f"cannot read KFP's IR schema (kfp-pipeline-spec): it imports {exc.name or exc}, which is not "
            "installed; install flow again with its dependencies",
            "flow",
        ) from None
    if module is None:
        raise SpecError(
            "the kfp-pipeline-spec package is not installed (pip install kfp-pipeline-spec)", "flow"
        )
    return module


@functools.cache
def kubernetes_schema() -> Descriptor | None:
    """KubernetesExecutorConfig, from kfp-kubernetes where it is installed (it needs the kfp SDK, which is
    not one of flow's dependencies). Its module imports kfp's pipeline_spec_pb2: it is given flow's."""
    pb = pipeline_schema()
    package = ModuleType("kfp.pipeline_spec")
    package.pipeline_spec_pb2 = pb  # type: ignore[attr-defined]
    given = {"kfp.pipeline_spec": package, "kfp.pipeline_spec.pipeline_spec_pb2": pb}
    try:
        module = _generated("kfp-kubernetes", "kfp/kubernetes/kubernetes_executor_config_pb2.py", given)
    except ImportError:
        return None
    return None if module is None else module.KubernetesExecutorConfig.DESCRIPTOR


@functools.cache
def _pipeline_checker() -> tuple[Checker, Descriptor]:
    pb = pipeline_schema()
    spec: Descriptor = pb.PipelineSpec.DESCRIPTOR
    checker = Checker({(spec.full_name, "deploymentSpec"): pb.PipelineDeploymentConfig.DESCRIPTOR})
    return checker, spec


def check_pipeline(document: Any) -> None:
    """Raise SchemaError where the pipeline document does not fit KFP's PipelineSpec. A field set to null
    is removed from the document, as protobuf reads it: not set."""
    checker, spec = _pipeline_checker()
    checker.message(document, spec, "")


def check_platform(document: Any) -> None:
    """Raise SchemaError where the platform document does not fit KFP's PlatformSpec; a Kubernetes platform's
    executors are checked against KubernetesExecutorConfig where kfp-kubernetes is installed. Fields set to
    null are removed, as from the pipeline document."""
    pb = pipeline_schema()
    checker = Checker({})
    checker.message(document, pb.PlatformSpec.DESCRIPTOR, "")
    kubernetes = (document.get("platforms") or {}).get("kubernetes") or {}
    executors = (kubernetes.get("deploymentSpec") or {}).get("executors") or {}
    schema = kubernetes_schema() if executors else None
    if schema is None:
        return
    for label, settings in executors.items():
        checker.message(settings, schema, f"platforms.kubernetes.deploymentSpec.executors.{label}")
