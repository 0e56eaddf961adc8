"""Mocked components for tests: a task answered by a Python function or fixed outputs, never run.

A mock gets the task's input parameter values and the host paths of its input artifacts, and returns its
outputs by name: parameter values, and artifact contents (str or bytes) that are written where the task
would have written them. Fixed outputs are the same mapping given up front.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from roots.files import RootFiles
from runner import layout
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError
from runner.spec.parameter_types import check

Mock = Callable[[dict[str, Any]], Mapping[str, Any]] | Mapping[str, Any]


class MockError(FlowError):
    """A mock raised, or returned something that does not fit the component's outputs."""


def find(mocks: Mapping[str, Mock], node: Node) -> Mock | None:
    """The mock for a task, by task name or component name (with or without kfp's "comp-" prefix)."""
    for key in (node.task.name, node.component.name, node.component.name.removeprefix("comp-")):
        if key in mocks:
            return mocks[key]
    return None


def answer(
    mock: Mock, node: Node, files: RootFiles, root: Path, run_id: str
) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """The node's outputs as the mock gives them, artifact files written under the root.

    The mock receives its input artifacts as paths under `root`: mocks serve local test runs."""
    where = node.task.where
    inputs: dict[str, Any] = dict(node.params)
    for name, refs in node.artifacts.items():
        paths = [root / ref.uri for ref in refs]
        inputs[name] = paths if len(paths) > 1 else paths[0]
    try:
        given = dict(mock(inputs) if callable(mock) else mock)
    except Exception as exc:  # the user's mock failed: the task fails with its message
        raise MockError(f"the mock raised {type(exc).__name__}: {exc}", where) from exc
    declared = node.component.outputs
    unknown = set(given) - set(declared.parameters) - set(declared.artifacts)
    if unknown:
        raise MockError(f"the mock returned outputs the component does not have: {sorted(unknown)}", where)
    params = {
        name: check(given[name], d.type, where) for name, d in declared.parameters.items() if name in given
    }
    missing = set(declared.parameters) - set(params)
    if missing:
        raise MockError(f"the mock did not return output parameters {sorted(missing)}", where)
    produced: dict[str, list[ArtifactRef]] = {}
    for name, definition in declared.artifacts.items():
        uri = layout.output_uri(run_id, node.path, name)
        content = given.get(name, b"")
        files.write(uri, content.encode() if isinstance(content, str) else bytes(content))
        produced[name] = [ArtifactRef(name=name, uri=uri, type=definition.schema_title)]
    return params, produced
