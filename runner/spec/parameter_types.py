"""Parameter values checked and converted against their declared IR types."""

from __future__ import annotations

import json
import math
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


def check_parameter(value: Any, ptype: str, where: str) -> Any:
    """`check`, and within what KFP's types hold, for a pipeline parameter given or defaulted: a
    NUMBER_INTEGER is a 64-bit integer and a NUMBER_DOUBLE a finite number (JSON has no NaN)."""
    value = check(value, ptype, where)
    if ptype == "NUMBER_INTEGER" and value is not None and not -(2**63) <= value < 2**63:
        raise ParameterError(f"{_short(value)} does not fit a NUMBER_INTEGER (64-bit)", where)
    if ptype == "NUMBER_DOUBLE" and value is not None and not math.isfinite(value):
        raise ParameterError(f"{value} is not a NUMBER_DOUBLE (a finite number)", where)
    return value


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
