"""A run's tasks as the engine told them so far: what the live table lists, each loop's progress, counters.

The engine's thread tells the view of each change while a rich Live thread draws it, both under one lock.
Everything is kept up to date change by change, so that a drawing costs the rows it lists, not the run's
tasks: the tasks inside a loop's iterations (thousands, in a big run) are counted, never listed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from runner.cli.dagorder import in_dag_order
from runner.cli.screen import Listed, LoopProgress, Screen
from runner.engine.events import AttemptFailed
from runner.store import TaskRecord, TaskState

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


@dataclass(slots=True)
class _Iteration:
    """How the tasks of one loop iteration stand (its own tasks, not those of groups inside it)."""

    tasks: int = 0
    unfinished: int = 0
    running: int = 0
    failed: int = 0

    def status(self) -> tuple[int, int, int]:
        """(done, running, failed), each 0 or 1: done once all its tasks finished, failed once one failed."""
        done = self.tasks > 0 and self.unfinished == 0
        return int(done), int(not done and self.running > 0), int(self.failed > 0)

    def count(self, state: TaskState, sign: int) -> None:
        self.unfinished += sign * (not state.finished)
        self.running += sign * (state == TaskState.RUNNING)
        self.failed += sign * (state == TaskState.FAILED)


class RunView:
    """Rows in DAG order with loops folded into one row each, and the tasks counted by state."""

    def __init__(self, orders: Mapping[str, Mapping[str, int]] | None = None) -> None:
        """`orders`: each DAG's topological order (dagorder.dag_orders); without, tasks are listed in the
        order the engine made them."""
        self._lock = threading.Lock()
        self._orders = orders or {}
        self._records: dict[str, TaskRecord] = {}
        self._listable: dict[str, TaskRecord] = {}  # the tasks not inside loops, in the order they came
        self._states: dict[str, TaskState] = {}  # as the engine last told them
        self._inside_loops: set[str] = set()  # tasks in an iteration, at any depth: never listed
        self._iteration_of: dict[str, str] = {}  # a task right in an iteration -> the iteration's path
        self._iterations: dict[str, _Iteration] = {}
        self._loops: dict[str, LoopProgress] = {}
        self._failed_attempts: dict[str, AttemptFailed] = {}  # path -> its last attempt, to be retried
        self._counts: Counter[str] = Counter()  # container and importer tasks by counter
        self._listed: list[tuple[int, str]] | None = None  # (depth, path); None: to be worked out again

    @property
    def has_orders(self) -> bool:
        return bool(self._orders)

    def set_orders(self, orders: Mapping[str, Mapping[str, int]]) -> None:
        with self._lock:
            self._orders = orders
            self._listed = None

    def task_changed(self, record: TaskRecord) -> bool:
        """Take in a task's record; whether its state is new (the task is new, or its state changed)."""
        path, state = record.path, record.state
        with self._lock:
            before = self._states.get(path)
            self._records[path] = record  # the engine's own, which it changes: the same one but in tests
            if before is None:
                self._place(record)
            elif before == state:
                return False
            self._states[path] = state
            if record.kind != "dag":
                if before is not None:
                    self._counts[_COUNTER_OF[before]] -= 1
                self._counts[_COUNTER_OF[state]] += 1
            iteration_path = self._iteration_of.get(path)
            if iteration_path is not None:
                self._iteration_changed(iteration_path, before, state)
        return True

    def loop_opened(self, path: str, iterations: int) -> None:
        with self._lock:
            self._loops.setdefault(path, LoopProgress()).iterations = iterations

    def attempt_failed(self, event: AttemptFailed) -> None:
        with self._lock:
            self._failed_attempts[event.path] = event

    def screen(self, now: float) -> Screen:
        """What to draw at the time `now` (seconds since the epoch)."""
        with self._lock:
            if self._listed is None:
                ordered = in_dag_order(self._listable, self._orders)
                self._listed = [(depth, record.path) for depth, record in ordered]
            records, states = self._records, self._states
            listed = [Listed(depth, records[path], states[path]) for depth, path in self._listed]
            loops = {path: replace(progress) for path, progress in self._loops.items()}
            return Screen(listed, loops, dict(self._failed_attempts), Counter(self._counts), now)

    def _place(self, record: TaskRecord) -> None:
        """Where a new task goes: listed (under the run or a listed group), or inside a loop's iteration."""
        parent = record.parent
        if parent and (parent not in self._records or parent in self._inside_loops):
            self._inside_loops.add(record.path)
            if parent not in self._records:  # the parent is an iteration ("for-loop-2/3"): count the task
                self._iteration_of[record.path] = parent
                self._loops.setdefault(parent.rpartition("/")[0], LoopProgress())
                self._iterations.setdefault(parent, _Iteration())
            return
        self._listable[record.path] = record
        self._listed = None

    def _iteration_changed(self, path: str, before: TaskState | None, state: TaskState) -> None:
        iteration = self._iterations[path]
        done, running, failed = iteration.status()
        if before is None:
            iteration.tasks += 1
        else:
            iteration.count(before, -1)
        iteration.count(state, 1)
        now_done, now_running, now_failed = iteration.status()
        loop = self._loops[path.rpartition("/")[0]]
        loop.done += now_done - done
        loop.running += now_running - running
        loop.failed += now_failed - failed
