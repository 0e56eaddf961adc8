"""ParallelFor: a loop task's items and one scope per iteration."""

from __future__ import annotations

import json
from typing import Any

from runner.engine.graph import Node, Scope
from runner.errors import FlowError


class LoopError(FlowError):
    """The loop's items are not a list; the loop task fails with this message."""


def items(node: Node) -> list[Any]:
    """The values a ParallelFor iterates over: raw JSON in the IR, or an input parameter or artifact list."""
    iterator = node.task.iterator
    assert iterator is not None
    where = f"{node.task.where}.{'parameterIterator' if iterator.kind == 'parameter' else 'artifactIterator'}"
    if iterator.kind == "artifact":
        return list(node.artifacts.get(str(iterator.input_name), []))
    if iterator.raw is not None:
        value: Any = _json(iterator.raw, where)
    else:
        value = node.params.get(str(iterator.input_name))
        if isinstance(value, str):  # a STRING output holding a JSON list
            value = _json(value, where)
    if not isinstance(value, list):
        raise LoopError(f"loop items must be a list, got {type(value).__name__}", where)
    return value


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise LoopError(f"loop items are not valid JSON: {text[:60]!r}", where) from None


def iteration_scopes(node: Node, values: list[Any]) -> list[Scope]:
    """One scope per item, at `<loop-path>/<index>`, with the item bound to the loop's item input."""
    iterator = node.task.iterator
    assert iterator is not None
    scopes = []
    for index, value in enumerate(values):
        params, arts = dict(node.params), dict(node.artifacts)
        if iterator.kind == "artifact":
            arts[iterator.item_input] = [value]
        else:
            params[iterator.item_input] = value
        scopes.append(Scope(f"{node.path}/{index}", node.component, params, arts, owner=node))
    return scopes
