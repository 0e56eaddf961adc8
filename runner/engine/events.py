"""What the engine tells a watcher (the live view of `flow run`) that task records do not say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoopOpened:
    """A ParallelFor task started with this many iterations; the records of an iteration exist only once
    it opens (a parallelism limit holds the others back), so its size is not in the store."""

    path: str
    iterations: int


@dataclass(frozen=True)
class AttemptFailed:
    """An attempt of a container task failed and the task runs again after `retry_in` seconds; its record
    goes back to PENDING, and the next attempt replaces the error and the log path it had."""

    path: str
    attempt: int
    error: str
    retry_in: float


EngineEvent = LoopOpened | AttemptFailed
EventListener = Callable[[EngineEvent], None]
