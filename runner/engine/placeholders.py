"""KFP v2 placeholders in a container's command and args, resolved from the task's ExecutorInput."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.workspaces import WORKSPACE_PATH
from runner import layout
from runner.engine.texts import argument_text, whole_numbers_as_ints
from runner.errors import SpecError

_PLACEHOLDER = re.compile(r"\{\{\$(.*?)\}\}")
_INPUT_PARAM = re.compile(r"""^\.inputs\.parameters\[['"](.+?)['"]\]$""")
_INPUT_ARTIFACT = re.compile(
    r"""^\.inputs\.artifacts\[['"](.+?)['"]\]\.(path|uri|metadata)(?:\[['"](.+?)['"]\])?$"""
)
_OUTPUT_ARTIFACT = re.compile(r"""^\.outputs\.artifacts\[['"](.+?)['"]\]\.(path|uri|metadata)$""")
_OUTPUT_PARAM = re.compile(r"""^\.outputs\.parameters\[['"](.+?)['"]\]\.output_file$""")


@dataclass(frozen=True)
class Context:
    """What placeholders can refer to: the ExecutorInput plus the pipeline-level values."""

    executor_input: Mapping[str, Any]
    pipeline_values: Mapping[str, str]  # "pipeline_job_name" -> value, ...
    where: str  # the task, for error messages

    def parameter(self, name: str) -> Any:
        values = self.executor_input["inputs"].get("parameterValues", {})
        if name not in values:
            raise SpecError(f"placeholder refers to input parameter {name!r}, which has no value", self.where)
        return values[name]

    def input_artifact(self, name: str) -> Mapping[str, Any]:
        entry = self.executor_input["inputs"].get("artifacts", {}).get(name)
        if not entry or not entry.get("artifacts"):
            raise SpecError(
                f"placeholder refers to input artifact {name!r}, which is not provided", self.where
            )
        first: Mapping[str, Any] = entry["artifacts"][0]
        return first

    def is_present(self, name: str) -> bool:
        inputs = self.executor_input["inputs"]
        if inputs.get("parameterValues", {}).get(name) is not None:
            return True
        return bool(inputs.get("artifacts", {}).get(name, {}).get("artifacts"))


def render(arguments: Sequence[str], context: Context) -> list[str]:
    """The final argv: placeholders substituted, IfPresent expanded or dropped, Concat joined."""
    result: list[str] = []
    for argument in arguments:
        if "{" not in argument:  # most of a command line: nothing to substitute
            result.append(argument)
            continue
        structure = _structured(argument)
        if structure is None:
            result.append(_substitute(argument, context))
        else:
            result.extend(_expand(structure, context))
    return result


def has_placeholders(arguments: Sequence[str]) -> bool:
    """Whether `render` could change these arguments (if not, they are the argv as they are)."""
    return any("{" in argument for argument in arguments)


# Arguments whose placeholders all stand for pipeline-level values (`{{$.pipeline_task_name}}`, the job's
# name, the root), prepared once per component: per argument, its text and the names of those values,
# alternating, as in ("--task=", "pipeline_task_name", ""). Filling one needs no ExecutorInput and no parse.
Template = tuple[tuple[str, ...], ...]


def template(arguments: Sequence[str], names: Collection[str]) -> Template | None:
    """The arguments as a Template when each of their placeholders is one of the pipeline-level values
    `names`; None when one needs `render` (inputs, outputs, the ExecutorInput, Concat, IfPresent)."""
    prepared: list[tuple[str, ...]] = []
    for argument in arguments:
        if "{" not in argument:
            prepared.append((argument,))
            continue
        if _structured(argument) is not None:
            return None
        parts = list(_parts(argument))
        for i in range(1, len(parts), 2):
            if not parts[i].startswith(".") or parts[i][1:] not in names:
                return None
            parts[i] = parts[i][1:]
        prepared.append(tuple(parts))
    return tuple(prepared)


def fill(arguments: Template, values: Mapping[str, str]) -> list[str]:
    """The argv of a Template with these pipeline-level values: what `render` gives for the arguments."""
    argv = []
    for parts in arguments:
        if len(parts) == 1:
            argv.append(parts[0])
            continue
        pieces = list(parts)
        for i in range(1, len(pieces), 2):
            pieces[i] = values[pieces[i]]
        argv.append("".join(pieces))
    return argv


# An argument is rendered once per task attempt, but there are few distinct arguments (those of the run's
# components): parsing each once and keeping the result saves most of the work. Results are never modified.
@functools.lru_cache(maxsize=1024)
def _structured(argument: str) -> Any:
    """The parsed form of a `{"Concat": ...}` or `{"IfPresent": ...}` argument, else None."""
    stripped = argument.lstrip()
    if not stripped.startswith('{"'):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("Concat", "IfPresent"):
        return value
    return None


@functools.lru_cache(maxsize=4096)
def _parts(text: str) -> tuple[str, ...]:
    """Text and placeholder expressions, alternating: ("--n=", ".inputs.parameters['n']", "")."""
    return tuple(_PLACEHOLDER.split(text))


def _expand(value: Any, context: Context) -> list[str]:
    if isinstance(value, str):
        return [_substitute(value, context)]
    if isinstance(value, list):
        return [part for item in value for part in _expand(item, context)]
    if isinstance(value, dict) and "Concat" in value:
        return ["".join(part for item in value["Concat"] for part in _expand(item, context))]
    if isinstance(value, dict) and "IfPresent" in value:
        spec = value["IfPresent"]
        branch = spec.get("Then") if context.is_present(spec["InputName"]) else spec.get("Else")
        return [] if branch is None else _expand(branch, context)
    raise SpecError(f"unsupported placeholder structure {json.dumps(value)[:60]}", context.where)


def _substitute(text: str, context: Context) -> str:
    parts = _parts(text)
    if len(parts) == 1:
        return text
    pieces = list(parts)
    for i in range(1, len(pieces), 2):
        pieces[i] = _value(pieces[i], context)
    return "".join(pieces)


def _uri_or_path(artifact: Mapping[str, Any], which: str) -> str:
    uri = str(artifact["uri"])
    if which == "uri":
        return uri
    if artifact.get("metadata", {}).get(layout.IN_WORKSPACE) is True:  # as KFP's launcher maps it
        return f"{WORKSPACE_PATH}/{layout.workspace_relative(uri)}"
    return layout.local_path(uri)


def _value(expression: str, context: Context) -> str:
    if expression == "":
        return json.dumps(whole_numbers_as_ints(context.executor_input))
    if expression.startswith(".") and expression[1:] in context.pipeline_values:
        return context.pipeline_values[expression[1:]]
    if match := _INPUT_PARAM.match(expression):
        return argument_text(context.parameter(match.group(1)))
    if match := _INPUT_ARTIFACT.match(expression):
        artifact = context.input_artifact(match.group(1))
        if match.group(2) == "metadata":
            metadata = artifact.get("metadata", {})
            return argument_text(metadata.get(match.group(3)) if match.group(3) else metadata)
        return _uri_or_path(artifact, match.group(2))
    if match := _OUTPUT_ARTIFACT.match(expression):
        entry = context.executor_input["outputs"].get("artifacts", {}).get(match.group(1))
        if not entry:
            raise SpecError(
                f"placeholder refers to unknown output artifact {match.group(1)!r}", context.where
            )
        artifact = entry["artifacts"][0]
        if match.group(2) == "metadata":
            return argument_text(artifact.get("metadata", {}))
        return _uri_or_path(artifact, match.group(2))
    if match := _OUTPUT_PARAM.match(expression):
        entry = context.executor_input["outputs"].get("parameters", {}).get(match.group(1))
        if not entry:
            raise SpecError(
                f"placeholder refers to unknown output parameter {match.group(1)!r}", context.where
            )
        return str(entry["outputFile"])
    if expression == ".outputs.output_file":
        return str(context.executor_input["outputs"]["outputFile"])
    raise SpecError(f"unknown placeholder {{{{${expression}}}}}", context.where)
