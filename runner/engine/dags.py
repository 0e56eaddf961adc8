"""What a DAG task outputs: picked from the tasks of its scope, or collected over a loop's iterations."""

from __future__ import annotations

from typing import Any

from runner.engine.graph import ArtifactRef, Node, Scope
from runner.engine.outputs import OutputError


def dag_outputs(scope: Scope) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """A DAG's outputs, each from the first of its selected tasks that produced it."""
    dag = scope.component.dag
    assert dag is not None
    params: dict[str, Any] = {}
    arts: dict[str, list[ArtifactRef]] = {}
    for kind, declared, found in (
        ("parameter", dag.parameter_outputs, params),
        ("artifact", dag.artifact_outputs, arts),
    ):
        for name, selectors in declared.items():
            ok, value = scope.produced(selectors, artifacts=kind == "artifact")
            if not ok:
                raise OutputError(f"no task produced DAG output {kind} {name!r}", scope.component.where)
            found[name] = value
    return params, arts


def collected_outputs(node: Node) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """A loop's DAG outputs gathered over its iterations, in item order (dsl.Collected).

    An iteration that did not produce a value (its producer skipped by a condition) contributes nothing.
    """
    dag = node.component.dag
    assert dag is not None
    params: dict[str, Any] = {name: [] for name in dag.parameter_outputs}
    arts: dict[str, list[ArtifactRef]] = {name: [] for name in dag.artifact_outputs}
    for scope in node.children:
        for name, selectors in dag.parameter_outputs.items():
            ok, value = scope.produced(selectors, artifacts=False)
            if ok:
                params[name].append(value)
        for name, selectors in dag.artifact_outputs.items():
            ok, refs = scope.produced(selectors, artifacts=True)
            if ok:
                arts[name].extend(refs)
    return params, arts
