"""Run, task and artifact metadata: in a SQLite file by default, or in PostgreSQL for a shared store."""

from runner.store.base import Store
from runner.store.records import ArtifactRecord, RunRecord, RunState, TaskRecord, TaskState
from runner.store.sqlite import SQLiteStore
from runner.store.url import open_url

__all__ = [
    "ArtifactRecord",
    "RunRecord",
    "RunState",
    "SQLiteStore",
    "Store",
    "TaskRecord",
    "TaskState",
    "open_url",
]
