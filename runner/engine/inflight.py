"""The container tasks a run has in its backend: their handles and deadlines, polling and stopping them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from backends.base import (
    REASON_LOST,
    REASON_TIMEOUT,
    Backend,
    BackendError,
    Phase,
    TaskStatus,
    TemporaryBackendError,
)
from runner.engine.graph import Node

_POLL_RETRIES = 5
# Phase.finished as a set: it is asked of every status of every poll.
_FINISHED = frozenset(phase for phase in Phase if phase.finished)


class Running:
    """The submitted attempts that have not finished yet, by handle."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._nodes: dict[str, Node] = {}
        self._deadlines: dict[str, tuple[float, float]] = {}  # handle -> (monotonic deadline, timeout)

    def __len__(self) -> int:
        return len(self._nodes)

    def add(self, handle: str, node: Node, timeout: float | None) -> None:
        node.handle = handle
        self._nodes[handle] = node
        if timeout:
            self._deadlines[handle] = (time.monotonic() + timeout, timeout)

    def finished(self) -> list[tuple[Node, TaskStatus]]:
        """Poll the backend once: the attempts that finished, no longer running. An attempt past its
        deadline is stopped and reported failed with reason Timeout."""
        statuses = self._poll()
        if self._deadlines:
            statuses.update(self._expired(statuses))
        done = []
        for handle, status in statuses.items():
            if status.phase in _FINISHED:
                self._deadlines.pop(handle, None)
                done.append((self._nodes.pop(handle), status))
        return done

    def stop_all(self) -> list[Node]:
        """Cancel every running attempt and forget them; their nodes."""
        # Concurrently, so that each task's stop grace period does not add up.
        with ThreadPoolExecutor(max_workers=max(1, len(self._nodes))) as pool:
            list(pool.map(self.backend.cancel, list(self._nodes)))
        nodes = list(self._nodes.values())
        self._nodes.clear()
        self._deadlines.clear()
        return nodes

    def _poll(self) -> dict[str, TaskStatus]:
        """Statuses of the running tasks; when the backend is gone for good, every running task fails."""
        for attempt in range(_POLL_RETRIES):
            try:
                return self.backend.poll(list(self._nodes))
            except TemporaryBackendError as exc:
                if attempt == _POLL_RETRIES - 1:
                    error: BackendError = exc
                    break
                time.sleep(min(exc.delay, 5.0))
            except BackendError as exc:
                error = exc
                break
        return {
            handle: TaskStatus(Phase.FAILED, reason=REASON_LOST, message=str(error)) for handle in self._nodes
        }

    def _expired(self, statuses: dict[str, TaskStatus]) -> dict[str, TaskStatus]:
        """Stop the running tasks past their deadline and report them as failed with reason Timeout."""
        now = time.monotonic()
        expired: dict[str, TaskStatus] = {}
        for handle, (deadline, timeout) in self._deadlines.items():
            if deadline <= now and not statuses[handle].phase.finished:
                self.backend.cancel(handle)
                message = f"timed out after {timeout:g} s"
                expired[handle] = TaskStatus(Phase.FAILED, reason=REASON_TIMEOUT, message=message)
        return expired
