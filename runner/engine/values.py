"""Parameter values checked and converted against their declared IR types."""

from __future__ import annotations

import json
from typing import Any

from runner.errors import ParameterError


def check(value: Any, ptype: str, where: str) -> Any:
    """`value` as the type `ptype` wants, or ParameterError. Integral floats become ints for NUMBER_INTEGER,
    as the KFP backend does with IR constants such as `2.0`."""
    if value is None:
        return None
    if ptype == "STRING" and isinstance(value, str):
        return value
    if ptype == "NUMBER_INTEGER" and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    if ptype == "NUMBER_DOUBLE" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if ptype == "BOOLEAN" and isinstance(value, bool):
        return value
    if ptype == "LIST" and isinstance(value, list | tuple):
        return list(value)
    if ptype in ("STRUCT", "TASK_FINAL_STATUS") and isinstance(value, dict):
        return value
    raise ParameterError(f"expected {_describe(ptype)}, got {type(value).__name__} {_short(value)}", where)


def parse_text(text: str, ptype: str, where: str) -> Any:
    """A value typed on a command line or read from a parameter output file, as `ptype`."""
    if ptype == "STRING":
        return text
    try:
        if ptype == "BOOLEAN":
            lowered = text.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            raise ValueError
        if ptype == "NUMBER_INTEGER":
            return int(text.strip())
        if ptype == "NUMBER_DOUBLE":
            return float(text.strip())
        value = json.loads(text)
    except ValueError:
        raise ParameterError(f"expected {_describe(ptype)}, got {_short(text)}", where) from None
    return check(value, ptype, where)


def _describe(ptype: str) -> str:
    return {
        "STRING": "a string",
        "NUMBER_INTEGER": "an integer",
        "NUMBER_DOUBLE": "a number",
        "BOOLEAN": "true or false",
        "LIST": "a JSON list",
        "STRUCT": "a JSON object",
    }.get(ptype, ptype)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
