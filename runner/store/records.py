"""What the store keeps about runs, tasks, attempts and artifacts."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any


class RunState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"  # `flow cancel` asked; the engine stops the tasks and records CANCELLED
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


class TaskState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    SKIPPED_UPSTREAM_FAILED = "SKIPPED_UPSTREAM_FAILED"
    SKIPPED_CONDITION = "SKIPPED_CONDITION"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self not in (TaskState.PENDING, TaskState.RUNNING)

    @property
    def ok(self) -> bool:
        """The task's outputs exist and downstream tasks may use them."""
        return self in (TaskState.SUCCEEDED, TaskState.CACHED)


def text_digest(text: str) -> str:
    """A text's SHA-256, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    pipeline_file: str
    backend: str
    root: str
    state: RunState = RunState.PENDING
    params: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    error: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)  # pipeline output parameters
    spec_text: str = ""
    engine_pid: int | None = None  # the process driving the run, so `flow cancel` knows whether it lives
    engine_host: str = ""  # the machine of that process: with a shared store, a pid means nothing elsewhere
    # A run made by `flow rerun`: the run and task path whose task it runs again with the same inputs.
    rerun_of: str = ""
    rerun_task: str = ""

    @property
    def spec_digest(self) -> str:
        """The SHA-256 of the pipeline's text, under which the store keeps the text once for all its runs."""
        return text_digest(self.spec_text)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or self.started_at) - self.started_at


@dataclass(slots=True)  # an engine keeps one per task instance and updates it on every transition
class TaskRecord:
    run_id: str
    path: str  # unique in the run: "train", "mantle/core/core-comp", "for-loop-2/1/op"
    name: str
    component: str
    kind: str  # "container", "importer" or "dag"
    parent: str = ""
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)  # output parameter values
    error: str = ""
    exit_code: int | None = None
    reason: str = ""
    log_path: str = ""
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None
    cache_key: str = (
        ""  # set for cacheable container tasks; a later task with the same key reuses the outputs
    )
    component_digest: str = ""  # of the component spec the task ran (runner.spec.digests)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass
class ArtifactRecord:
    run_id: str
    task_path: str
    name: str
    uri: str  # relative to the pipeline root (DESIGN.md section 5)
    type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    digest: str = ""  # sha256 of the content (files in name order for a directory)
