"""A task's resources when some come from its input parameters (kfp's `set_cpu_limit(param)` and the like)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from backends.base import Resources
from runner.engine.inputs import InputError
from runner.errors import FlowError
from runner.spec.model import Container
from runner.spec.quantities import parse_count, parse_cpu, parse_memory


def resolved(container: Container, params: Mapping[str, Any], where: str) -> Resources:
    """The container's resources with each field that names an input replaced by that input's value, checked
    as a literal field is at load time. As the backend's driver, the value must be a string (it reads these
    with GetStringValue) and the input must have one; else the task fails with InputError."""
    if not container.resource_inputs:
        return container.resources
    values: dict[str, Any] = {}
    for field, (ir_field, name) in container.resource_inputs.items():
        # The scheduler reports a task's error by its message alone: the message names the field and input.
        about = f"resources.{ir_field} from input {name!r}"
        value = params.get(name)
        if value is None:
            raise InputError(f"{about}: the input has no value", where)
        if not isinstance(value, str):
            raise InputError(
                f"{about}: {value!r} is not a string (Kubeflow reads resources from strings)", where
            )
        try:
            values[field] = _parsed(field, value, where)
        except FlowError as exc:
            raise InputError(f"{about}: {exc.message}", where) from None
    return dataclasses.replace(container.resources, **values)


def _parsed(field: str, value: str, where: str) -> Any:
    if field in ("cpu_limit", "cpu_request"):
        return parse_cpu(value, where)
    if field in ("memory_limit", "memory_request"):
        return parse_memory(value, where)
    if field == "accelerator_count":
        return parse_count(value, where) if value.strip() else 0
    return value.strip() or None  # accelerator_type: empty means none, as on Kubeflow
