"""A task's output copied into its log file while it runs, so that the log outlives the container.

`flow logs` and the UI read that file (TaskSpec.log_path); a backend whose runtime streams a task's output
(a Docker daemon, the Kubernetes API) subclasses LogCopy with how to read the stream, and the thread, the
file and the end are handled here.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


class LogCopy(abc.ABC):
    """Copies one task's output into `log_path` in a daemon thread, from `start` until the output ends."""

    def __init__(self, log_path: Path, name: str, on_done: Callable[[], None]) -> None:
        """`on_done` is called once the copy ended: the output ended, broke, or the copy was stopped."""
        self.log_path = log_path
        self._on_done = on_done
        self._done = threading.Event()
        self._stop = threading.Event()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch(mode=0o600)  # only its owner reads it, as the store
        self._thread = threading.Thread(target=self._run, name=f"flow-logs-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        """Whether the copy ended within `timeout` seconds."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Ask the copy to end; it does at its next block of output."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @abc.abstractmethod
    def copy(self, log: BinaryIO) -> None:
        """Write the task's output to `log` as it comes, flushing each block, until it ends or `stopped`."""

    def _run(self) -> None:
        # Errors end the copy: the container or its runtime is gone, and the backend learns it by polling.
        try:
            with contextlib.suppress(Exception), self.log_path.open("ab") as log:
                self.copy(log)
        finally:
            self._done.set()
            self._on_done()
