"""The order the live view lists a run's tasks in: each DAG's tasks topologically, a group's under it."""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from runner.spec.model import Dag, PipelineSpec
from runner.store import TaskRecord

ROOT = ""  # the key of the pipeline's own DAG among the components' names


def topological(dag: Dag) -> dict[str, int]:
    """Each task's place in a topological order of the DAG; among tasks free to go at once, the one the
    file declares first comes first, so the order is the same on every render and every run."""
    declared = {name: index for index, name in enumerate(dag.tasks)}
    waiting = {name: len(task.upstream & declared.keys()) for name, task in dag.tasks.items()}
    released: dict[str, list[str]] = {}
    for name, task in dag.tasks.items():
        for upstream in task.upstream & declared.keys():
            released.setdefault(upstream, []).append(name)
    ready = [declared[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    names = list(dag.tasks)
    order: dict[str, int] = {}
    while ready:
        name = names[heapq.heappop(ready)]
        order[name] = len(order)
        for dependent in released.get(name, ()):
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, declared[dependent])
    return order


def dag_orders(spec: PipelineSpec) -> dict[str, dict[str, int]]:
    """The topological order of every DAG of the pipeline, by component name (ROOT: the pipeline's)."""
    orders = {name: topological(c.dag) for name, c in spec.components.items() if c.dag is not None}
    if spec.root.dag is not None:
        orders[ROOT] = topological(spec.root.dag)
    return orders


def in_dag_order(
    records: Mapping[str, TaskRecord], orders: Mapping[str, Mapping[str, int]]
) -> list[tuple[int, TaskRecord]]:
    """(depth, record) for the tasks to list: the pipeline's tasks in DAG order, each group's tasks right
    under it, one level deeper. A loop's tasks are under its iterations ("for-loop-2/3"), which are not
    tasks: they are left out. Tasks the orders do not know (no spec was given) keep the order the engine
    made them in."""
    children: dict[str, list[TaskRecord]] = {}
    for record in records.values():
        children.setdefault(record.parent, []).append(record)
    made = {path: index for index, path in enumerate(records)}
    listed: list[tuple[int, TaskRecord]] = []
    stack: list[tuple[int, TaskRecord]] = [(0, r) for r in _sorted(children.get("", []), ROOT, orders, made)]
    stack.reverse()
    while stack:
        depth, record = stack.pop()
        listed.append((depth, record))
        inner = _sorted(children.get(record.path, []), record.component, orders, made)
        stack.extend((depth + 1, r) for r in reversed(inner))
    return listed


def _sorted(
    records: list[TaskRecord],
    component: str,
    orders: Mapping[str, Mapping[str, int]],
    made: Mapping[str, int],
) -> list[TaskRecord]:
    order = orders.get(component, {})
    unknown = len(order)
    return sorted(records, key=lambda r: (order.get(r.name, unknown), made[r.path]))
