"""The edges of a run's graph: which recorded task waits for which, from the pipeline the run ran.

Nodes are the task records themselves; a DAG task (a sub-pipeline, a condition, a loop) contains the tasks
whose `parent` is its path, and a loop's iterations are the parents `<loop>/<index>` that have no record.
"""

from __future__ import annotations

from runner.spec import PipelineSpec
from runner.spec.model import Dag
from runner.store import TaskRecord


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
