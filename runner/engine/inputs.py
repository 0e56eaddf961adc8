"""Resolving a task's input parameters and artifacts from constants, its DAG's inputs and upstream outputs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from runner.engine.graph import ArtifactRef, Node
from runner.engine.texts import value_text
from runner.errors import FlowError
from runner.spec.model import ParameterBinding
from runner.spec.parameter_types import check
from runner.store import TaskState

# The state a PipelineTaskFinalStatus gives, as the backend's driver reads it from the producer's MLMD
# execution, where a success is COMPLETE and a cache hit CACHED.
_FINAL_STATES = {TaskState.SUCCEEDED: "COMPLETE", TaskState.CACHED: "CACHED"}
# The run's values: `{{$.pipeline_job_name}}` and the like, and `{{$.workspace_path}}` in a run with one.
_PIPELINE_PLACEHOLDER = re.compile(r"\{\{\$\.(pipeline_[a-z_]+|workspace_path)\}\}")
# An input parameter's value inside a constant: kfp compiles f"foo-{x}" (and a list or dict holding x) into a
# constant holding this, with x bound to the task as an input of its own, `pipelinechannel--x`.
INPUT_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")
_INPUT_PLACEHOLDER_START = "{{$.inputs.parameters['"

Selector = Callable[[Any, str, str], Any]  # (value, expression, where) -> selected value
# The values of pipeline placeholders for a node; called only when a constant or a status needs them.
PipelineValues = Callable[[Node], Mapping[str, str]]


class InputError(FlowError):
    """An input has no value or the wrong type once upstream tasks ran; the task fails with this message."""


def resolve(
    node: Node, pipeline_values: PipelineValues, select: Selector
) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """The node's input parameter values (typed, defaults applied) and input artifacts."""
    task, scope, declared = node.task, node.scope, node.component.inputs
    # A loop's item input gets its value per iteration, not from a binding.
    item_input = task.iterator.item_input if task.iterator else None
    params: dict[str, Any] = {}
    templates: list[str] = []
    for name, binding in task.parameters.items():
        where = f"{task.where}.inputs.parameters.{name}"
        present, value = _parameter(binding, node, pipeline_values, where)
        if not present:
            continue
        if binding.kind == "constant" and _INPUT_PLACEHOLDER_START in str(value):
            templates.append(name)
        if binding.selector:
            value = select(value, binding.selector, where)
        definition = declared.parameters.get(name)
        if definition is not None:
            value = _typed(value, definition.type, where)
        params[name] = value
    for name, definition in declared.parameters.items():
        if name in params or name == item_input:
            continue
        if definition.has_default:
            # kfp writes `n: int = 3` as `defaultValue: 3.0`: defaults are typed like any other value.
            params[name] = _typed(definition.default, definition.type, f"{task.where}: default of {name!r}")
        elif not definition.optional:
            raise InputError(f"required input parameter {name!r} has no value", task.where)
    # Last, as the backend's launcher fills these: from the task's final values (selectors applied, types
    # converted, defaults added), in one pass, so a value that itself reads like a placeholder stays text.
    # Only constants are templates: a run's parameter or a task's output is data, never expanded.
    values = dict(params)
    for name in templates:
        params[name] = _filled(values[name], values, name, task.where)

    artifacts: dict[str, list[ArtifactRef]] = {}
    for name, abinding in task.artifacts.items():
        if abinding.kind == "component_input":
            refs = scope.artifacts.get(abinding.key)
        else:
            producer = scope.nodes[str(abinding.producer)]
            refs = producer.output_artifacts.get(abinding.key) if producer.record.state.ok else None
        if refs is not None:
            artifacts[name] = refs
    for name, adef in declared.artifacts.items():
        if name not in artifacts and not adef.optional and name != item_input:
            raise InputError(f"required input artifact {name!r} has no value", task.where)
    return params, artifacts


def _filled(template: Any, values: Mapping[str, Any], name: str, where: str) -> Any:
    """The constant with each `{{$.inputs.parameters['x']}}` in its strings replaced by x's text."""
    if isinstance(template, list):
        return [_filled(item, values, name, where) for item in template]
    if isinstance(template, dict):
        return {key: _filled(item, values, name, where) for key, item in template.items()}
    if not isinstance(template, str):
        return template

    def text(match: re.Match[str]) -> str:
        source = match.group(1)
        if values.get(source) is None:
            # The backend fails such a task too: the input kfp added for the placeholder resolves to null.
            raise InputError(
                f"input {name!r} refers to input parameter {source!r}, which has no value", where
            )
        return value_text(values[source])

    return INPUT_PLACEHOLDER.sub(text, template)


def _typed(value: Any, ptype: str, where: str) -> Any:
    """The value as the input's type wants it, converted where the KFP backend's driver converts: any value
    given to a STRING input becomes its text (JSON for a list or dict), and any number is a number (the
    backend has one number type: `2.5` reaches an integer input as it is, as it does on Kubeflow)."""
    if ptype == "STRING" and value is not None and not isinstance(value, str):
        return value_text(value)
    if ptype == "NUMBER_INTEGER" and isinstance(value, float) and not value.is_integer():
        return value
    try:
        return check(value, ptype, where)
    except FlowError as exc:
        raise InputError(exc.message, where) from None


def _parameter(
    binding: ParameterBinding, node: Node, pipeline_values: PipelineValues, where: str
) -> tuple[bool, Any]:
    """(whether the input has a value, the value)."""
    scope = node.scope
    if binding.kind == "constant":
        value = binding.constant
        if isinstance(value, str) and "{{$." in value:
            values = pipeline_values(node)
            value = _PIPELINE_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
        return True, value
    if binding.kind == "component_input":
        if binding.key in scope.params:
            return True, scope.params[binding.key]
        return False, None
    producer = scope.nodes[str(binding.producer)]
    if binding.kind == "task_final_status":
        record = producer.record
        return True, {
            "state": _FINAL_STATES.get(record.state, record.state.value),
            "error": {"code": 0 if record.state.ok else 1, "message": record.error},
            "pipelineJobResourceName": pipeline_values(node).get("pipeline_job_resource_name", ""),
            "pipelineTaskName": producer.task.name,
        }
    if not producer.record.state.ok or binding.key not in producer.output_params:
        return False, None
    return True, producer.output_params[binding.key]


def describe(node: Node) -> dict[str, Any]:
    """The resolved inputs as the store records them: values, and artifacts by URI."""
    described: dict[str, Any] = dict(node.params)
    for name, refs in node.artifacts.items():
        described[name] = [ref.uri for ref in refs]
    return described
