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


@dataclass(eq=False)
class Scope:
    """One instance of a DAG: its input values and the nodes of its tasks."""

    path: str  # prefix of its nodes' paths ("" for the root)
    component: Component
    params: dict[str, Any]
    artifacts: dict[str, list[ArtifactRef]]
    owner: Node | None
    nodes: dict[str, Node] = field(default_factory=dict)
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


@dataclass(eq=False)
class Node:
    """One task instance. Container tasks are submitted; DAG tasks open child scopes (one per loop item)."""

    task: Task
    component: Component
    scope: Scope
    record: TaskRecord
    dependents: list[Node] = field(default_factory=list)
    waiting_on: int = 0
    handle: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    output_params: dict[str, Any] = field(default_factory=dict)
    output_artifacts: dict[str, list[ArtifactRef]] = field(default_factory=dict)
    children: list[Scope] = field(default_factory=list)
    unfinished_children: int = 0
    pending_iterations: list[Scope] = field(
        default_factory=list
    )  # loop items not yet opened (parallelismLimit)
    attempt_spec: TaskSpec | None = None  # the current attempt, for container tasks

    @property
    def path(self) -> str:
        return self.record.path
