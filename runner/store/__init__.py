"""Run, task and artifact metadata."""

from runner.store.records import ArtifactRecord, RunRecord, RunState, TaskRecord, TaskState
from runner.store.sqlite import Store

__all__ = ["ArtifactRecord", "RunRecord", "RunState", "Store", "TaskRecord", "TaskState"]
