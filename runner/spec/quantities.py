"""Kubernetes-style resource quantities ("500m", "2", "512Mi", "1G") as numbers."""

from __future__ import annotations

import math
import re

from runner.errors import SpecError

MEMORY_UNITS = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_INPUT_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")
_CPU = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(m?)\s*$")
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_cpu(value: str | float | int, where: str) -> float:
    """CPU cores from "500m", "2" or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    match = _CPU.match(value) if isinstance(value, str) else None
    if not match:
        raise SpecError(f"not a CPU quantity: {value!r}", where)
    cores = float(match.group(1))
    if not math.isfinite(cores):
        raise SpecError(f"not a CPU quantity: {value!r}", where)
    return cores / 1000 if match.group(2) else cores


def parse_memory(value: str | float | int, where: str, *, number_unit: int = 1) -> int:
    """Bytes from "512Mi", "1G" or a number (multiplied by `number_unit`: the IR's numeric fields are GB)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return int(value * number_unit)
    match = _QUANTITY.match(value) if isinstance(value, str) else None
    if not match or match.group(2) not in MEMORY_UNITS or not math.isfinite(float(match.group(1))):
        raise SpecError(f"not a memory quantity: {value!r}", where)
    return int(float(match.group(1)) * MEMORY_UNITS[match.group(2)])


def parse_count(value: str | float | int, where: str) -> int:
    """An accelerator count: a whole number of devices, written as a number or as text."""
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value >= 0
        and float(value).is_integer()
    ):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise SpecError(f"not an accelerator count: {value!r}", where)


def input_placeholder(value: object) -> str | None:
    """The input parameter a resource field names (`{{$.inputs.parameters['pipelinechannel--cpu']}}`, as kfp
    writes `set_cpu_limit(param)`), else None. As the backend's driver, the field stands for that input's
    whole value: the placeholder is found anywhere in the text."""
    match = _INPUT_PLACEHOLDER.search(value) if isinstance(value, str) else None
    return match.group(1) if match else None
