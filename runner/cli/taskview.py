"""The live table of a run's tasks: what the engine told so far, drawn at a given time.

The engine's thread tells the view of changes while a rich Live thread draws it: both go through a lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from runner.cli.dagorder import in_dag_order
from runner.engine.events import AttemptFailed
from runner.errors import one_line
from runner.store import TaskRecord, TaskState

STATE_STYLES = {
    TaskState.PENDING: "dim",
    TaskState.RUNNING: "cyan",
    TaskState.SUCCEEDED: "green",
    TaskState.CACHED: "green",
    TaskState.FAILED: "bold red",
    TaskState.SKIPPED_UPSTREAM_FAILED: "yellow",
    TaskState.SKIPPED_CONDITION: "dim",
    TaskState.CANCELLED: "yellow",
}
# The counter line, in this order; skipped and cancelled tasks are counted only when there are some.
COUNTED = ("done", "running", "failed", "cached", "pending")
_COUNTER_OF = {
    TaskState.SUCCEEDED: "done",
    TaskState.RUNNING: "running",
    TaskState.FAILED: "failed",
    TaskState.CACHED: "cached",
    TaskState.PENDING: "pending",
    TaskState.SKIPPED_UPSTREAM_FAILED: "skipped",
    TaskState.SKIPPED_CONDITION: "skipped",
    TaskState.CANCELLED: "cancelled",
}
_QUIET = frozenset((TaskState.SUCCEEDED, TaskState.CACHED, TaskState.SKIPPED_CONDITION))
_FRAME_LINES = 3  # the table's header, the counter line, and the line saying what rows are not shown


def safe_line(text: str) -> str:
    """A line of a container's output or error as it may reach a terminal: tabs as spaces, other control
    characters (escape sequences among them) escaped, so a task cannot rewrite the screen."""
    return one_line(text.expandtabs())


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return safe_line(lines[-1].strip()) if lines else ""


def attempt_failure(event: AttemptFailed) -> str:
    """One line for an attempt that failed and runs again: why, its last line of output, when again."""
    lines = [line for line in event.error.splitlines() if line.strip()]
    why = safe_line(lines[0].strip()) if lines else "failed"
    last = last_line(event.error)
    said = why if last in ("", why) else f"{why}: {last}"
    after = f"in {elapsed(event.retry_in)}" if event.retry_in > 0 else "now"
    return f"attempt {event.attempt} failed ({said}); attempt {event.attempt + 1} {after}"


def elapsed(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, whole = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{whole:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(frozen=True)
class LoopProgress:
    """The iterations of a loop: how many there are (None until the engine says) and how they stand."""

    iterations: int | None
    done: int = 0
    running: int = 0
    failed: int = 0

    def __str__(self) -> str:
        total = "?" if self.iterations is None else str(self.iterations)
        parts = [f"{self.done}/{total}"]
        if self.running:
            parts.append(f"{self.running} running")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return " · ".join(parts)


@dataclass(frozen=True)
class Row:
    depth: int
    name: str
    state: TaskState
    time: str
    detail: str


class RunView:
    """A run's tasks as the engine reported them: rows in DAG order with loops folded, and counters."""

    def __init__(self, orders: Mapping[str, Mapping[str, int]] | None = None) -> None:
        """`orders`: each DAG's topological order (dagorder.dag_orders); without, tasks are listed in the
        order the engine made them."""
        self.orders = orders or {}
        self._lock = threading.Lock()
        self._records: dict[str, TaskRecord] = {}
        self._loops: dict[str, int] = {}  # loop path -> iterations
        self._failed_attempts: dict[str, AttemptFailed] = {}  # path -> its last attempt, to be retried

    def task_changed(self, record: TaskRecord) -> None:
        with self._lock:
            self._records[record.path] = record

    def loop_opened(self, path: str, iterations: int) -> None:
        with self._lock:
            self._loops[path] = iterations

    def attempt_failed(self, event: AttemptFailed) -> None:
        with self._lock:
            self._failed_attempts[event.path] = event

    def rows(self, now: float) -> list[Row]:
        with self._lock:
            records = dict(self._records)
            loops = dict(self._loops)
            failed_attempts = dict(self._failed_attempts)
        progress = _loop_progress(records.values(), loops)
        listed = in_dag_order(records, self.orders, frozenset(progress))
        return [
            Row(
                depth,
                record.name,
                record.state,
                _time(record, now),
                _detail(record, progress.get(record.path), failed_attempts.get(record.path)),
            )
            for depth, record in listed
        ]

    def counts(self) -> Counter[str]:
        """The container and importer tasks by what they are at: done, running, failed, cached, pending,
        skipped, cancelled."""
        with self._lock:
            states = [r.state for r in self._records.values() if r.kind != "dag"]
        return Counter(_COUNTER_OF[state] for state in states)

    def screen(self, now: float) -> Screen:
        """What to draw at the time `now` (seconds since the epoch)."""
        return Screen(self.rows(now), self.counts())


class Screen:
    """The table and the counter line; rows beyond the console's height are summed up in one line, the
    finished ones first, so that what runs and what failed stays in sight."""

    def __init__(self, rows: list[Row], counts: Counter[str]) -> None:
        self.rows = rows
        self.counts = counts

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = max(1, options.max_height - _FRAME_LINES)
        shown, hidden = _fitted(self.rows, room)
        table = Table(box=None, pad_edge=False)
        table.add_column("task", no_wrap=True, overflow="ellipsis")
        table.add_column("state", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, overflow="ellipsis")
        for row in shown:
            table.add_row(
                Text("  " * row.depth + row.name),
                Text(row.state.value, style=STATE_STYLES[row.state]),
                row.time,
                Text(row.detail, style="red" if row.state == TaskState.FAILED else "dim"),
            )
        parts: list[Table | Text] = [table]
        if hidden:
            sums = Counter("finished" if row.state.finished else "not finished" for row in hidden)
            said = ", ".join(f"{count} {what}" for what, count in sorted(sums.items()))
            parts.append(Text(f"… {len(hidden)} more not shown ({said})", style="dim"))
        parts.append(Text(counter_line(self.counts)))
        yield Group(*parts)


def counter_line(counts: Counter[str]) -> str:
    named = [*COUNTED, *(what for what in ("skipped", "cancelled") if counts[what])]
    return " · ".join(f"{counts[what]} {what}" for what in named)


def _fitted(rows: list[Row], room: int) -> tuple[list[Row], list[Row]]:
    """The rows to draw in `room` lines and those left out: the quiet ones first (earliest first), then
    the last ones."""
    if len(rows) <= room + 1:  # the line about the others is not needed: one more row fits
        return rows, []
    quiet = [i for i, row in enumerate(rows) if row.state in _QUIET]
    loud = [i for i in range(len(rows) - 1, -1, -1) if rows[i].state not in _QUIET]
    left_out = set((quiet + loud)[: len(rows) - room])
    return (
        [row for i, row in enumerate(rows) if i not in left_out],
        [row for i, row in enumerate(rows) if i in left_out],
    )


def _time(record: TaskRecord, now: float) -> str:
    if record.started_at is None or record.state == TaskState.PENDING:
        return ""
    end = record.finished_at if record.state.finished and record.finished_at is not None else now
    return elapsed(end - record.started_at)


def _detail(record: TaskRecord, loop: LoopProgress | None, failed: AttemptFailed | None) -> str:
    if loop is not None:
        return str(loop)
    if record.state == TaskState.FAILED:
        return last_line(record.error)
    if record.state == TaskState.PENDING and failed is not None:
        return f"attempt {failed.attempt} failed, retrying: {last_line(failed.error)}"
    if record.attempts > 1:
        return f"attempt {record.attempts}"
    return ""


def _loop_progress(records: Iterable[TaskRecord], loops: Mapping[str, int]) -> dict[str, LoopProgress]:
    """Each loop's iterations: done when all their tasks finished, failed when one of their tasks failed.
    A loop is a task the engine said it opened, or one whose tasks are inside a numbered iteration."""
    paths = set()
    iterations: dict[str, list[TaskRecord]] = {}  # iteration path ("for-loop-2/3") -> its own tasks
    records = list(records)
    for record in records:
        paths.add(record.path)
    for record in records:
        if record.parent and record.parent not in paths:
            iterations.setdefault(record.parent, []).append(record)
    tallies: dict[str, Counter[str]] = {path: Counter() for path in loops}
    for iteration, tasks in iterations.items():
        loop = iteration.rpartition("/")[0]
        tally = tallies.setdefault(loop, Counter())
        if all(task.state.finished for task in tasks):
            tally["done"] += 1
        elif any(task.state == TaskState.RUNNING for task in tasks):
            tally["running"] += 1
        if any(task.state == TaskState.FAILED for task in tasks):
            tally["failed"] += 1
    return {
        loop: LoopProgress(loops.get(loop), tally["done"], tally["running"], tally["failed"])
        for loop, tally in tallies.items()
    }
