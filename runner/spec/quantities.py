"""Kubernetes-style resource quantities ("500m", "2", "512Mi", "1G") as numbers."""

from __future__ import annotations

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
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_cpu(value: str | float | int, where: str) -> float:
    """CPU cores from "500m", "2" or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise SpecError(f"not a CPU quantity: {value!r}", where) from None


def parse_memory(value: str | float | int, where: str, *, number_unit: int = 1) -> int:
    """Bytes from "512Mi", "1G" or a number (multiplied by `number_unit`: the IR's numeric fields are GB)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * number_unit)
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in MEMORY_UNITS:
        raise SpecError(f"not a memory quantity: {value!r}", where)
    return int(float(match.group(1)) * MEMORY_UNITS[match.group(2)])
