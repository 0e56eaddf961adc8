"""The values that named a task's Secrets, ConfigMaps and PVCs in its run, read back from the store.

kfp-kubernetes may name them by a parameter of the task's DAG or by an upstream task's output; a rerun's task
runs without that DAG around it, so the names are looked up in the records of the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.reruns.pipeline import NameLookup
from runner.reruns.target import Target
from runner.store import Store


def name_lookup(store: Store, target: Target) -> NameLookup:
    """A lookup of a name source (`componentInputParameter`, `taskOutputParameter`, a constant)."""
    run_id, task = target.run.run_id, target.task
    parent = task.parent
    scope_values: dict[str, Any] | None = None

    def scope() -> dict[str, Any]:
        nonlocal scope_values
        if scope_values is None:
            scope_values = {**_dag_inputs(store, target), **task.inputs}
        return scope_values

    def value(source: Mapping[str, Any]) -> str | None:
        if "componentInputParameter" in source:
            found = scope().get(source["componentInputParameter"])
            return None if found is None else str(found)
        if "taskOutputParameter" in source:
            output = source["taskOutputParameter"] or {}
            producer = str(output.get("producerTask"))
            record = store.task(run_id, f"{parent}/{producer}" if parent else producer)
            found = record.outputs.get(str(output.get("outputParameterKey"))) if record else None
            return None if found is None else str(found)
        constant = (source.get("runtimeValue") or {}).get("constant")
        return None if constant is None else str(constant)

    return value


def _dag_inputs(store: Store, target: Target) -> dict[str, Any]:
    """The input values of the DAG instance the task ran in: the run's parameters at the root, else those
    recorded for the DAG task (a loop iteration's scope, `loop/3`, is its loop task's)."""
    parent = target.task.parent
    if not parent:
        return dict(target.run.params)
    record = store.task(target.run.run_id, parent)
    if record is None and "/" in parent and parent.rsplit("/", 1)[1].isdigit():
        record = store.task(target.run.run_id, parent.rsplit("/", 1)[0])
    return dict(record.inputs) if record is not None else {}
