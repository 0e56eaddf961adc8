"""The run's live graph: one Node per task instance, one Scope per DAG instance (or loop iteration)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import TaskSpec
from runner.spec.model import Component, OutputSelector, Task
from runner.store.records import TaskRecord


@dataclass(frozen=True)
class ArtifactRef:
    """An artifact as tasks pass it along: its URI is relative to the pipeline root."""

    name: str
    uri: str
    type: str
    schema_version: str = "0.0.1"
    metadata: dict[str, Any] = field(default_factory=dict)
    digest: str = ""  # sha256 of the content once the producing task succeeded; part of cache keys


# Slots (here and on Node): a big run holds tens of thousands of nodes, read and updated on every tick.
@dataclass(eq=False, slots=True)
class Scope:
    """One instance of a DAG: its input values, the nodes of its tasks and who waits for whom."""

    path: str  # prefix of its nodes' paths ("" for the root)
    component: Component
    params: dict[str, Any]
    artifacts: dict[str, list[ArtifactRef]]
    owner: Node | None
    nodes: dict[str, Node] = field(default_factory=dict)
    dependents: dict[str, list[Node]] = field(default_factory=dict)  # task name -> the nodes it releases
    unfinished: int = 0

    def child_path(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name

    def produced(self, selectors: Sequence[OutputSelector], artifacts: bool) -> tuple[bool, Any]:
        """A DAG output's value: from the first selected task that succeeded and produced it (dsl.OneOf)."""
        for selector in selectors:
            producer = self.nodes[selector.producer]
            values = producer.output_artifacts if artifacts else producer.output_params
            if producer.record.state.ok and selector.key in values:
                return True, values[selector.key]
        return False, None


@dataclass(eq=False, slots=True)
class Node:
    """One task instance. Container tasks are submitted; DAG tasks open child scopes (one per loop item)."""

    task: Task
    component: Component
    scope: Scope
    record: TaskRecord
    path: str  # the record's, which never changes; read on every step of the task's way
    waiting_on: int = 0
    upstream_blocked: bool = False  # an upstream task ended in a state that keeps this one from running
    handle: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    output_params: dict[str, Any] = field(default_factory=dict)
    output_artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    children: Sequence[Scope] = ()  # a DAG task's scopes, one per loop item
    unfinished_children: int = 0
    opened_children: int = 0  # those opened so far (a loop's parallelismLimit holds the others back)
    attempt_spec: TaskSpec | None = None  # the current attempt, for container tasks
