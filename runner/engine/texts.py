"""Parameter values as text, written the way the KFP backend writes them.

The backend keeps every parameter as a protobuf Value, where all numbers are doubles. Two spellings follow:
- `value_text`: the launcher's and the driver's type conversion (metadata.PbValueToText, and the launcher's
  input placeholders): what a STRING input receives for a non-string value, and what replaces
  `{{$.inputs.parameters['x']}}` inside a constant (a kfp f-string).
- `argument_text`: the driver's, for a placeholder in a container's command or args (pbValueToString).
They differ only for numbers that are not whole: `0.00001` is `0.00001` in the first, `1e-05` in the second.
Lists and dicts are compact JSON with sorted keys in both, as Go's encoding/json writes them.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from runner.errors import FlowError

# Go's encoding/json escapes these even inside strings (its HTML-safe default).
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def value_text(value: Any) -> str:
    """A parameter value as the backend converts it to text: strings as they are, numbers in plain decimal
    notation (`3`, not `3.0`), `true`/`false`, lists and dicts as JSON, null as the empty string."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _plain(value)
    return go_json(value)


def argument_text(value: Any) -> str:
    """A parameter value as the driver writes it into a command line: whole numbers as integers, others in
    Go's shortest `%g` form; everything else as `value_text`."""
    if isinstance(value, float) and not value.is_integer():
        return _go_g(value)
    return value_text(value)


def go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes a protobuf list or struct: compact, keys sorted, numbers as
    JavaScript writes them (`3`, `0.5`, `1e-7`, `1e+21`), `<`, `>` and `&` escaped."""
    try:
        return _go_json(value)
    except RecursionError:
        raise _too_deep() from None


def whole_numbers_as_ints(value: Any) -> Any:
    """The value with each whole float as an int, as protobuf's JSON writes a double: a component reads the
    ExecutorInput of a `float` input holding 3 as `3` on Kubeflow, so its code sees the int 3."""
    try:
        return _whole_numbers_as_ints(value)
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> FlowError:
    # A task's output may nest lists thousands deep; that fails the task reading it, not the engine.
    return FlowError("a parameter value is nested too deeply to be written as text")


def _go_json(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(_GO_ESCAPES)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return _go_json_number(value)
    if isinstance(value, dict):
        items = sorted(((str(key), item) for key, item in value.items()), key=lambda pair: pair[0])
        return "{" + ",".join(f"{_go_json(key)}:{_go_json(item)}" for key, item in items) + "}"
    return "[" + ",".join(_go_json(item) for item in value) + "]"


def _whole_numbers_as_ints(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, list | tuple):
        return [_whole_numbers_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in value.items()}
    return value


def _go_json_number(number: int | float) -> str:
    if isinstance(number, int) or number == 0:
        return str(int(number))
    if 1e-6 <= abs(number) < 1e21:
        return _plain(number)
    mantissa, _, power = repr(number).partition("e")
    sign = "-" if power.startswith("-") else "+"
    return f"{mantissa.removesuffix('.0')}e{sign}{power.lstrip('+-').lstrip('0')}"


def _plain(number: int | float) -> str:
    """Go's strconv.FormatFloat(n, 'f', -1, 64): the shortest digits that read back the same, no exponent."""
    if isinstance(number, int):
        return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _go_g(number: float) -> str:
    """Go's fmt `%g` of a float: shortest digits, an exponent below 1e-4 and from 1e6 on (`1.5e+06`)."""
    if math.isnan(number) or math.isinf(number):
        return _plain(number)
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    point = len(mantissa) + exponent  # where the decimal point falls among the digits
    if point - 1 < -4 or point - 1 >= 6:
        head = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        power = point - 1
        text = f"{head}e{'-' if power < 0 else '+'}{abs(power):02d}"
    else:
        text = _plain(number).lstrip("-")
    return ("-" if sign else "") + text
