"""flow's in-container executor for Python function components: the KFP ExecutorInput/ExecutorOutput protocol.

Standard library only. flow's SDK embeds this file's text (after artifacts.py) in each compiled component's
command, so an image needs nothing but a Python interpreter. In a task it reads `--executor_input` (JSON),
builds the function's arguments (typed parameters, artifact objects with .path/.uri/.metadata), calls the
function and writes its return value and the output artifacts' metadata to `executor_output.json`
(atomically), as the KFP launcher expects.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

# flow-embed: skip (the embedded program defines these names above this module's text)
from runner.executor.artifacts import (
    _OUTPUT,
    ARTIFACT_TYPES,
    Artifact,
    InputPath,
    OutputPath,
    PipelineTaskFinalStatus,
    _Direction,
)

# flow-embed: end

# -- signatures: what a function's annotations mean in the IR --------------------------------------------

_PARAMETER_TYPES = {
    str: "STRING",
    int: "NUMBER_INTEGER",
    float: "NUMBER_DOUBLE",
    bool: "BOOLEAN",
    list: "LIST",
    dict: "STRUCT",
}


def parameter_type(annotation: Any) -> tuple[str, bool] | None:
    """(IR parameter type, optional) of a parameter annotation, or None when it is not a parameter."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = parameter_type(args[0] if args[1] is type(None) else args[1])
        return None if inner is None else (inner[0], True)
    if annotation is PipelineTaskFinalStatus:
        return "TASK_FINAL_STATUS", False
    base = origin if origin in (list, dict) else annotation
    name = _PARAMETER_TYPES.get(base) if isinstance(base, type) else None
    return None if name is None else (name, False)


def _artifact_class(annotation: Any) -> tuple[type[Artifact], bool] | None:
    """(artifact class, is a list) of `Dataset` or `list[Dataset]`, else None."""
    if typing.get_origin(annotation) is list and len(typing.get_args(annotation)) == 1:
        inner = _artifact_class(typing.get_args(annotation)[0])
        return None if inner is None or inner[1] else (inner[0], True)
    if isinstance(annotation, type) and issubclass(annotation, Artifact):
        return annotation, False
    return None


def _path_class(value: Any) -> type[Artifact] | None:
    if isinstance(value, str):
        return ARTIFACT_TYPES.get(value if "." in value else f"system.{value}", Artifact)
    return value if isinstance(value, type) and issubclass(value, Artifact) else None


def _artifact_entry(cls: type[Artifact], is_list: bool = False) -> dict[str, Any]:
    return {"kind": "artifact", "type": cls.schema_title, "version": cls.schema_version, "list": is_list}


def describe(func: Callable[..., Any], returns: bool = True) -> dict[str, Any]:
    """The signature of `func` as the executor and the compiler need it (JSON-serialisable).

    {"inputs": {name: entry}, "outputs": {name: entry}, "returns": {"kind": "none" | "single" | "fields",
    "outputs": {name: entry}}}, where an entry is {"kind": "parameter", "type": IR type, "optional": bool},
    or {"kind": "artifact", "type": schema title, "version": ..., "list": bool}; entries of InputPath and
    OutputPath parameters also carry "path": True. `returns=False` ignores the return annotation
    (container components). Raises TypeError naming the function and the parameter for what is unsupported.
    """
    name = getattr(func, "__name__", repr(func))
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise TypeError(f"{name}: cannot resolve the annotations: {exc}") from None

    inputs: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{name}: parameter {pname!r}: *args and **kwargs are not supported")
        if pname not in hints:
            raise TypeError(f"{name}: parameter {pname!r} has no type annotation")
        annotation = hints[pname]
        direction = None
        if typing.get_origin(annotation) is Annotated:
            marks = [m for m in annotation.__metadata__ if isinstance(m, _Direction)]
            direction = marks[0] if marks else None
            annotation = typing.get_args(annotation)[0]
        found = _artifact_class(annotation)
        if isinstance(annotation, OutputPath):
            cls, ptype = _path_class(annotation.type), parameter_type(annotation.type)
            if cls is not None:
                outputs[pname] = {**_artifact_entry(cls), "path": True}
            elif ptype is not None and not ptype[1]:
                outputs[pname] = {"kind": "parameter", "type": ptype[0], "path": True}
            else:
                raise TypeError(
                    f"{name}: parameter {pname!r}: unsupported OutputPath type {annotation.type!r}"
                )
        elif isinstance(annotation, InputPath):
            cls = _path_class(annotation.type) or Artifact
            inputs[pname] = {**_artifact_entry(cls), "path": True}
        elif found is not None and direction is _OUTPUT:
            if found[1]:
                raise TypeError(f"{name}: parameter {pname!r}: a list of output artifacts is not supported")
            outputs[pname] = _artifact_entry(found[0])
        elif found is not None:
            inputs[pname] = _artifact_entry(*found)
            inputs[pname]["optional"] = param.default is None
        elif direction is not None:
            raise TypeError(f"{name}: parameter {pname!r}: {direction!r}[...] takes an artifact class")
        else:
            ptype = parameter_type(annotation)
            if ptype is None:
                raise TypeError(f"{name}: parameter {pname!r}: unsupported annotation {annotation!r}")
            inputs[pname] = {"kind": "parameter", "type": ptype[0], "optional": ptype[1]}
    result = _returns(name, hints.get("return")) if returns else {"kind": "none", "outputs": {}}
    return {"inputs": inputs, "outputs": outputs, "returns": result}


def _returns(name: str, annotation: Any) -> dict[str, Any]:
    if annotation is None or annotation is type(None):
        return {"kind": "none", "outputs": {}}
    if isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        try:
            fields = typing.get_type_hints(annotation)
        except Exception as exc:
            raise TypeError(f"{name}: cannot resolve the return annotation: {exc}") from None
        result = {}
        for field, field_type in fields.items():
            ptype = parameter_type(field_type)
            if _artifact_class(field_type) is not None:
                raise TypeError(
                    f"{name}: return field {field!r} is an artifact; write it to an Output[...] parameter"
                )
            if ptype is None or ptype[1]:
                raise TypeError(f"{name}: return field {field!r}: unsupported annotation {field_type!r}")
            result[field] = {"kind": "parameter", "type": ptype[0]}
        return {"kind": "fields", "outputs": result}
    if _artifact_class(annotation) is not None:
        # kfp returns artifacts through dsl.get_uri(), which its own backend does not support.
        raise TypeError(
            f"{name}: returns an artifact ({annotation!r}); write it to an Output[...] parameter instead"
        )
    ptype = parameter_type(annotation)
    if ptype is None or ptype[1]:
        raise TypeError(f"{name}: unsupported return annotation {annotation!r}")
    return {"kind": "single", "outputs": {"Output": {"kind": "parameter", "type": ptype[0]}}}


# -- running ---------------------------------------------------------------------------------------------


def _coerce(value: Any, ptype: str) -> Any:
    """An input value as the function's annotation wants it (JSON has one number type)."""
    if ptype == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        return int(value)
    if ptype == "NUMBER_DOUBLE" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if ptype == "BOOLEAN" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if ptype in ("LIST", "STRUCT") and isinstance(value, str):
        return json.loads(value)
    if ptype == "TASK_FINAL_STATUS" and isinstance(value, dict):
        error = value.get("error") or {}
        return PipelineTaskFinalStatus(
            state=value.get("state", ""),
            pipeline_job_resource_name=value.get("pipelineJobResourceName", ""),
            pipeline_task_name=value.get("pipelineTaskName", ""),
            error_code=error.get("code"),
            error_message=error.get("message"),
        )
    return value


def _checked_output(func_name: str, output: str, value: Any, ptype: str) -> Any:
    if ptype == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)  # a sum of numbers that came in as JSON (kfp.local sends 2 as 2.0)
    ok = {
        "STRING": isinstance(value, str),
        "NUMBER_INTEGER": isinstance(value, int) and not isinstance(value, bool),
        "NUMBER_DOUBLE": isinstance(value, int | float) and not isinstance(value, bool),
        "BOOLEAN": isinstance(value, bool),
        "LIST": isinstance(value, list | tuple),
        "STRUCT": isinstance(value, dict),
    }.get(ptype, True)
    if not ok:
        raise TypeError(f"{func_name}: output {output!r} is {type(value).__name__} {value!r}, not {ptype}")
    if ptype == "NUMBER_DOUBLE":
        return float(value)
    return list(value) if ptype == "LIST" else value


def _make_artifact(entry: dict[str, Any], runtime: dict[str, Any]) -> Artifact:
    title = (runtime.get("type") or {}).get("schemaTitle") or entry["type"]
    cls = ARTIFACT_TYPES.get(title, Artifact)
    return cls(runtime.get("name", ""), runtime.get("uri", ""), dict(runtime.get("metadata") or {}))


def _makedirs_for(path: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


def write_json_atomic(path: str, value: Any) -> None:
    """Readers of `path` see the whole document or nothing (temp file in the same folder, then rename)."""
    _makedirs_for(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".executor_output.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def execute(
    func: Callable[..., Any], executor_input: dict[str, Any], signature: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call `func` as the task described by `executor_input`; write and return the ExecutorOutput."""
    signature = signature if signature is not None else describe(func)
    name = getattr(func, "__name__", "component")
    inputs, outputs = executor_input.get("inputs") or {}, executor_input.get("outputs") or {}
    values = inputs.get("parameterValues") or {}
    given_artifacts = inputs.get("artifacts") or {}
    output_artifacts = outputs.get("artifacts") or {}
    kwargs: dict[str, Any] = {}
    for pname, entry in signature["inputs"].items():
        if entry["kind"] == "parameter":
            if values.get(pname) is not None:
                kwargs[pname] = _coerce(values[pname], entry["type"])
            continue
        runtime = (given_artifacts.get(pname) or {}).get("artifacts") or []
        if not runtime:
            continue  # an optional artifact that was not given: the function's default applies
        made = [_make_artifact(entry, r) for r in runtime]
        kwargs[pname] = made if entry.get("list") else (made[0].path if entry.get("path") else made[0])
    produced: dict[str, Artifact] = {}
    for pname, entry in signature["outputs"].items():
        if entry["kind"] == "parameter":
            path = outputs["parameters"][pname]["outputFile"]
            _makedirs_for(path)
            kwargs[pname] = path
            continue
        produced[pname] = _make_artifact(entry, output_artifacts[pname]["artifacts"][0])
        _makedirs_for(produced[pname].path)
        kwargs[pname] = produced[pname].path if entry.get("path") else produced[pname]
    result = func(**kwargs)

    parameter_values: dict[str, Any] = {}
    returns = signature["returns"]
    if returns["kind"] == "single":
        parameter_values["Output"] = _checked_output(
            name, "Output", result, returns["outputs"]["Output"]["type"]
        )
    elif returns["kind"] == "fields":
        fields = list(returns["outputs"])
        if not isinstance(result, tuple) or len(result) != len(fields):
            raise TypeError(f"{name}: expected a tuple of {len(fields)} values {fields}, got {result!r}")
        for field, value in zip(fields, result, strict=True):
            parameter_values[field] = _checked_output(name, field, value, returns["outputs"][field]["type"])
    for rname in parameter_values:
        _makedirs_for(((outputs.get("parameters") or {}).get(rname) or {}).get("outputFile", ""))
    executor_output: dict[str, Any] = {}
    if parameter_values:
        executor_output["parameterValues"] = parameter_values
    if produced:
        executor_output["artifacts"] = {
            pname: {"artifacts": [{"name": a.name, "uri": a.uri, "metadata": a.metadata}]}
            for pname, a in produced.items()
        }
    if outputs.get("outputFile"):
        write_json_atomic(outputs["outputFile"], executor_output)
    return executor_output


def main(
    func: Callable[..., Any], signature: dict[str, Any] | None = None, argv: list[str] | None = None
) -> None:
    """The command line of a component: `--executor_input JSON [--function_to_execute NAME]`."""
    args = _arguments(argv)
    execute(func, json.loads(args.executor_input), signature)


def run_module(module: types.ModuleType, argv: list[str] | None = None) -> None:
    """Run the function `--function_to_execute` of `module` (a compiled component's code), whose signature
    the compiler left in its `__flow_signature__` (so no annotation is evaluated inside the task)."""
    args = _arguments(argv)
    func = getattr(module, args.function_to_execute)
    signature = getattr(module, "__flow_signature__", None)
    execute(func, json.loads(args.executor_input), signature)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flow-executor")
    parser.add_argument("--executor_input", required=True)
    parser.add_argument("--function_to_execute", default="")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args
