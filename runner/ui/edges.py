"""The edges of a run's graph: which recorded task waits for which, from the pipeline the run ran.

Nodes are the task records themselves; a DAG task (a sub-pipeline, a condition, a loop) contains the tasks
whose `parent` is its path, and a loop's iterations are the parents `<loop>/<index>` that have no record.
"""

from __future__ import annotations

import json
from typing import Any

from runner.inputnames import channel_name
from runner.spec import PipelineSpec
from runner.spec.model import Dag, Iterator
from runner.store import TaskRecord

_LABEL_CHARS = 60


def edges(spec: PipelineSpec, tasks: list[TaskRecord]) -> list[tuple[str, str]]:
    """(upstream path, downstream path) for every dependency between two recorded sibling tasks."""
    by_path = {task.path: task for task in tasks}
    found = []
    for task in tasks:
        dag = _enclosing_dag(spec, task, by_path)
        definition = dag.tasks.get(task.name) if dag is not None else None
        if definition is None:
            continue
        prefix = f"{task.parent}/" if task.parent else ""
        for upstream in sorted(definition.upstream):
            if f"{prefix}{upstream}" in by_path:
                found.append((f"{prefix}{upstream}", task.path))
    return found


def _enclosing_dag(spec: PipelineSpec, task: TaskRecord, by_path: dict[str, TaskRecord]) -> Dag | None:
    if not task.parent:
        return spec.root.dag
    owner = by_path.get(task.parent)
    if owner is None:
        # The parent is a loop iteration ("<loop>/<index>"): the loop's component holds the tasks.
        owner = by_path.get(task.parent.rpartition("/")[0])
    if owner is None or owner.component not in spec.components:
        return None
    return spec.component(owner.component).dag


def iteration_labels(spec: PipelineSpec, tasks: list[TaskRecord]) -> dict[str, str]:
    """A label for each loop iteration ("<loop>/<index>") from its item: `lr=0.1` where a task of the
    iteration takes the item as its input `lr`, the fields of an item that is an object, else the item."""
    by_path = {task.path: task for task in tasks}
    children: dict[str, list[TaskRecord]] = {}
    for task in tasks:
        children.setdefault(task.parent, []).append(task)
    labels = {}
    for task in tasks:
        dag = _enclosing_dag(spec, task, by_path) if task.kind == "dag" else None
        definition = dag.tasks.get(task.name) if dag is not None else None
        if definition is None or definition.iterator is None:
            continue
        for index, item in enumerate(_items(definition.iterator, task.inputs)):
            path = f"{task.path}/{index}"
            labels[path] = _label(item, children.get(path, []))[:_LABEL_CHARS]
    return labels


def _items(iterator: Iterator, inputs: dict[str, Any]) -> list[Any]:
    if iterator.kind != "parameter":
        return []  # artifacts: an iteration's item is a file, its index says as much
    value: Any = iterator.raw if iterator.raw is not None else inputs.get(str(iterator.input_name))
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _label(item: Any, tasks: list[TaskRecord]) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{key}={_text(value)}" for key, value in item.items())
    for task in tasks:
        for name, value in sorted(task.inputs.items()):
            if value == item and isinstance(value, bool) == isinstance(item, bool):
                return f"{channel_name(name)}={_text(item)}"
    return _text(item)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
