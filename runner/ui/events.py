"""Server-sent events: a run's task changes, and a task's log as it grows.

Both poll the store (and the log file) a few times a second: the engine may run in another process, so
there is nothing to subscribe to, and a poll of one run's rows is cheap.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread

from runner.store import RunRecord, Store, TaskRecord
from runner.ui import shapes
from runner.ui.edges import edges, iteration_labels
from runner.ui.reader import StoreReader, run_spec

RUN_POLL_SECONDS = 0.5
LOG_POLL_SECONDS = 0.3
_LOG_CHUNK = 256 * 1024
LogReader = Callable[[str, int], bytes]  # (log path, offset) -> the bytes from there on


def message(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def run_graph(record: RunRecord, tasks: list[TaskRecord]) -> dict[str, Any]:
    """The graph's edges and the labels of its loop iterations."""
    if not record.spec_text:
        return {"edges": [], "iterations": {}}
    spec = run_spec(record.run_id, record.spec_text, record.pipeline_file)
    return {"edges": edges(spec, tasks), "iterations": iteration_labels(spec, tasks)}


async def run_updates(reader: StoreReader, run_id: str) -> AsyncIterator[str]:
    """`update` events with the run and the tasks that changed since the last one (all of them first), and
    the graph (edges, iteration labels) whenever tasks were added (a loop expanded); `end` once the run
    finished."""
    seen: dict[str, dict[str, Any]] = {}
    seen_run: dict[str, Any] = {}

    def snapshot(store: Store) -> tuple[RunRecord, list[TaskRecord]]:
        return store.run(run_id), store.tasks(run_id)

    while True:
        record, tasks = await anyio.to_thread.run_sync(reader.read, snapshot)
        run = shapes.run_detail(record)
        current = {task.path: shapes.task(task) for task in tasks}
        changed = [shaped for path, shaped in current.items() if seen.get(path) != shaped]
        if changed or run != seen_run:
            update: dict[str, Any] = {"run": run, "tasks": changed}
            if current.keys() != seen.keys():
                update.update(run_graph(record, tasks))
            yield message("update", update)
            seen, seen_run = current, run
        if record.state.finished:
            yield message("end", {"state": record.state.value})
            return
        await anyio.sleep(RUN_POLL_SECONDS)


async def log_updates(
    reader: StoreReader, run_id: str, task_path: str, elsewhere: LogReader
) -> AsyncIterator[str]:
    """`log` events with the text the task's log gained, `attempt` when a new attempt starts a new log,
    and `end` once the task finished and its log was read to the end. A task the running run has not
    reached yet is waited for; one the run ended without ends as UNKNOWN. `elsewhere(path, offset)` reads
    a log that is not on this machine (a detached run's, on its volume)."""
    log_path, offset = "", 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def snapshot(store: Store) -> tuple[RunRecord, TaskRecord | None]:
        return store.run(run_id), store.task(run_id, task_path)

    while True:
        record, task = await anyio.to_thread.run_sync(reader.read, snapshot)
        if task is None:
            if record.state.finished:
                yield message("end", {"state": "UNKNOWN"})
                return
            await anyio.sleep(LOG_POLL_SECONDS)
            continue
        if task.log_path != log_path:
            if log_path:
                yield message("attempt", {"attempt": task.attempts})
            log_path, offset = task.log_path, 0
            decoder.reset()
        chunk = await anyio.to_thread.run_sync(_read_from, log_path, offset, elsewhere)
        offset += len(chunk)
        if chunk:
            yield message("log", {"text": decoder.decode(chunk)})
        elif task.state.finished:
            yield message("end", {"state": task.state.value})
            return
        else:
            await anyio.sleep(LOG_POLL_SECONDS)


def _read_from(path: str, offset: int, elsewhere: LogReader) -> bytes:
    if not path:
        return b""
    try:
        with Path(path).open("rb") as handle:
            handle.seek(offset)
            return handle.read(_LOG_CHUNK)
    except FileNotFoundError:
        return elsewhere(path, offset)
