"""The bookkeeping every backend needs, written once: a backend supplies how to start, look at, stop and
remove one task, and where its output comes from; TrackingBackend turns these into the Backend contract.

It keeps the tasks it started by handle (the task's name), reports a handle it does not know as LOST,
keeps a task's final status once seen so that the runtime is asked about each task until it finished
only, makes `cancel` idempotent, copies each task's output into its log file (backends.logfile), removes
finished tasks (failed ones kept on request), and cleans a run up until the runtime has nothing of it left.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from backends.base import REASON_CANCELLED, REASON_LOST, Backend, Phase, RunInfo, TaskSpec, TaskStatus
from backends.logfile import LogCopy

# What a backend keeps of one task it started: a process, a container's id, a pod's creation time.
R = TypeVar("R")

CANCELLED = TaskStatus(Phase.FAILED, reason=REASON_CANCELLED, message="cancelled")
_UNKNOWN = TaskStatus(Phase.FAILED, reason=REASON_LOST, message="unknown to this backend")
# A run being cleaned up is looked at again this often until nothing of it is left, at most this long.
_CLEANUP_RECHECK_SECONDS, _CLEANUP_SECONDS = 0.2, 10.0


@dataclass(slots=True)
class Started(Generic[R]):
    """One task a backend started (or took over from an engine that stopped)."""

    spec: TaskSpec
    runtime: R
    log: LogCopy | None = None
    status: TaskStatus | None = None  # the final one, once seen
    removed: bool = False  # nothing of it is left in the runtime

    @property
    def name(self) -> str:
        return self.spec.name


class TrackingBackend(Backend, Generic[R]):
    """A Backend from a few hooks: `start`, `state`, `stop`, `remove` and `remove_run` (abstract), and
    `find` and `log_source` where the runtime has them. Hooks are called from the engine's thread, except
    `stop` (see there)."""

    # Whether the runtime keeps what a failed task left (its container, its pod) for inspection.
    keep_failed: bool = False

    def __init__(self) -> None:
        self._started: dict[str, Started[R]] = {}
        self._changed = threading.Event()

    # -- hooks --------------------------------------------------------------------------------------

    @abc.abstractmethod
    def start(self, task: TaskSpec) -> R:
        """Start `task` without waiting for it; what the backend keeps of it. Raises as `submit`."""

    def find(self, task: TaskSpec) -> R | None:
        """What the runtime still has of `task`, which an engine that stopped had started (running or
        finished), to take over; None when it has nothing, which is the default."""
        return None

    def log_source(self, task: TaskSpec, runtime: R) -> LogCopy | None:
        """The copy of the task's output into `task.log_path`, not yet started; None where the task writes
        that file itself (a local process), which is the default."""
        return None

    @abc.abstractmethod
    def state(self, tasks: Sequence[Started[R]]) -> Mapping[str, TaskStatus]:
        """The status of each task given (none has finished yet), by name, with one call to the runtime for
        all where possible. A finished status is final: the task's log is complete, its outputs are in the
        root, and the task is not asked about again. A task the runtime no longer has is FAILED with
        REASON_LOST."""

    @abc.abstractmethod
    def stop(self, task: Started[R]) -> None:
        """Stop a running task within its grace period, keeping its output. Called from several threads at
        once for different tasks (the engine stops a run's tasks together). Sets `task.removed` when
        stopping it removed it from the runtime."""

    @abc.abstractmethod
    def remove(self, task: Started[R]) -> None:
        """Remove what the runtime keeps of a task that finished or was stopped; called once per task."""

    @abc.abstractmethod
    def remove_run(self, run: RunInfo, keep_failed: bool) -> bool:
        """Remove what the run left in the runtime, found by its run label (tasks of an engine that died
        among them), stopping what still runs; failed tasks kept with `keep_failed`. True while some of it
        may still be there (being deleted, or being created by a call that was cut short): it is called
        again shortly."""

    # -- the contract -------------------------------------------------------------------------------

    def submit(self, task: TaskSpec) -> str:
        self._track(task, self.start(task))
        return task.name

    def adopt(self, task: TaskSpec) -> str | None:
        if task.name in self._started:
            return task.name
        runtime = self.find(task)
        if runtime is None:
            return None
        self._track(task, runtime)
        return task.name

    def _track(self, task: TaskSpec, runtime: R) -> None:
        started = Started(task, runtime, self.log_source(task, runtime))
        self._started[task.name] = started
        if started.log is not None:
            started.log.start()

    def poll(self, handles: Sequence[str]) -> dict[str, TaskStatus]:
        pending = [t for h in handles if (t := self._started.get(h)) is not None and t.status is None]
        states = self.state(pending) if pending else {}
        result = {}
        for handle in handles:
            started = self._started.get(handle)
            if started is None:
                result[handle] = _UNKNOWN
            elif started.status is not None:
                result[handle] = started.status
            else:
                status = states[handle]
                if status.phase.finished:
                    started.status = status
                    if status.phase == Phase.SUCCEEDED or not self.keep_failed:
                        self._remove(started)
                result[handle] = status
        return result

    def cancel(self, handle: str) -> None:
        started = self._started.get(handle)
        if started is None or started.status is not None:
            return
        self.stop(started)
        started.status = CANCELLED
        self._remove(started)

    def cleanup(self, run: RunInfo, keep_failed: bool = False) -> None:
        deadline = time.monotonic() + _CLEANUP_SECONDS
        while self.remove_run(run, keep_failed or self.keep_failed) and time.monotonic() < deadline:
            time.sleep(_CLEANUP_RECHECK_SECONDS)
        for started in self.tracked(run.run_id):
            if started.log is not None:
                started.log.stop()
            del self._started[started.name]

    def wait(self, timeout: float) -> None:
        self._changed.wait(timeout)
        self._changed.clear()

    def close(self) -> None:
        for started in self._started.values():
            if started.log is not None:
                started.log.stop()

    # -- for the hooks ------------------------------------------------------------------------------

    def changed(self) -> None:
        """Wake the engine's `wait`: a task may have changed state (its output ended, its process exited)."""
        self._changed.set()

    def task(self, handle: str) -> Started[R] | None:
        """The task of this handle, if this instance tracks it."""
        return self._started.get(handle)

    def tracked(self, run_id: str | None = None) -> list[Started[R]]:
        """The tasks this instance tracks, of one run or of all."""
        return [t for t in self._started.values() if run_id is None or t.spec.run_id == run_id]

    def _remove(self, started: Started[R]) -> None:
        if not started.removed:
            self.remove(started)
            started.removed = True
