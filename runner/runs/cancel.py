"""Cancelling a run whose engine died: remove what it left in the backend and record the run cancelled."""

from __future__ import annotations

import time

from backends.base import RunInfo
from runner.selection import select_backend_for_root
from runner.store import RunRecord, RunState, Store, TaskState


def cancel_orphaned(store: Store, record: RunRecord) -> None:
    backend = select_backend_for_root(record.backend, record.root)
    try:
        backend.cleanup(RunInfo(run_id=record.run_id, root=record.root))
    finally:
        backend.close()
    now = time.time()
    running = [t for t in store.tasks(record.run_id) if t.state == TaskState.RUNNING]
    for task in running:
        task.state, task.finished_at, task.reason = TaskState.CANCELLED, now, "Cancelled"
    store.save_tasks(running)
    record.state, record.finished_at = RunState.CANCELLED, now
    record.error = record.error or "cancelled with flow cancel after its engine died"
    store.save_run(record)
