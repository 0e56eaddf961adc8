"""CEL, as KFP uses it: task conditions (`triggerPolicy.condition`) and `parameterExpressionSelector`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from runner.errors import FlowError

if TYPE_CHECKING:
    import cel


class ConditionError(FlowError):
    """A CEL expression that does not parse, refers to a missing input, or does not give what it must."""


def _context(variables: dict[str, Any]) -> cel.Context:
    import cel  # on first use: the package loads its own command line and prompt_toolkit too

    context = cel.Context()
    for name, value in variables.items():
        context.add_variable(name, value)
    # KFP's own CEL function: its selectors read sub-fields of loop items with parseJson(string_value)[...].
    context.add_function("parseJson", json.loads)
    return context


def _evaluate(expression: str, variables: dict[str, Any], where: str) -> Any:
    import cel

    try:
        return cel.evaluate(expression, _context(variables))
    except KeyError as exc:
        raise ConditionError(
            f"CEL expression {expression!r} refers to {exc}, which has no value", where
        ) from None
    except (ValueError, TypeError, RuntimeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConditionError(f"CEL expression {expression!r}: {first_line}", where) from None


def condition_holds(expression: str, parameter_values: dict[str, Any], where: str) -> bool:
    """Whether a task's condition is true for its resolved input parameters."""
    result = _evaluate(expression, {"inputs": {"parameter_values": parameter_values}}, where)
    if not isinstance(result, bool):
        raise ConditionError(f"condition {expression!r} gave {result!r}, not true or false", where)
    return result


def select(value: Any, expression: str, where: str) -> Any:
    """A parameterExpressionSelector applied to an input value (as KFP exposes it: string_value & co)."""
    text = value if isinstance(value, str) else json.dumps(value)
    variables: dict[str, Any] = {"string_value": text}
    if isinstance(value, bool):
        variables["bool_value"] = value
    elif isinstance(value, int | float):
        variables["number_value"] = value
    elif isinstance(value, dict):
        variables["struct_value"] = value
    elif isinstance(value, list):
        variables["list_value"] = value
    return _evaluate(expression, variables, where)
