"""A task's log, wherever the run's engine wrote it: a file on this machine, or a file on the run's volume.

An engine on this machine writes task logs under $FLOW_HOME. The driver of a detached run writes them on
the run's volume (under /flow, where it mounts the volume), so that `flow logs` and `flow ui` on any
machine read them there, through the backend that reaches the volume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from backends.base import Backend
from roots import kinds
from roots.base import MOUNT_PATH
from roots.beneath import RefusedFile
from roots.files import RootFiles
from runner.selection import select_backend_for_root
from runner.store import RunRecord

CHUNK = 1 << 20  # logs are read this much at a time


def on_volume(record: RunRecord, log_path: str) -> str | None:
    """The log's path relative to the run's root when an engine in the cluster wrote it there, else None."""
    prefix = f"{MOUNT_PATH}/"
    if not log_path.startswith(prefix) or kinds.parse(record.root).on_this_machine:
        return None
    return log_path.removeprefix(prefix)


def read_from(record: RunRecord, log_path: str, offset: int, files: Callable[[], RootFiles]) -> bytes:
    """At most CHUNK bytes of the log from byte `offset` on (a log may be larger than memory); nothing when
    there is no log (yet). `files()` reaches the run's root, called only for a log on the volume."""
    if not log_path:
        return b""
    try:
        with Path(log_path).open("rb") as handle:
            handle.seek(offset)
            return handle.read(CHUNK)
    except FileNotFoundError:
        return read_on_volume(record, log_path, offset, files)


def read_on_volume(record: RunRecord, log_path: str, offset: int, files: Callable[[], RootFiles]) -> bytes:
    """As `read_from`, for a log that is not on this machine: read off the run's volume where it is there."""
    relative = on_volume(record, log_path)
    if relative is None:
        return b""
    try:
        return files().read_part(relative, offset, CHUNK)
    except RefusedFile:  # something else than a log is at its place: there is no log to show
        return b""


class RunLogs:
    """The task logs of one run for a command; connects to the run's backend only for logs on a volume."""

    def __init__(self, record: RunRecord, backend_options: Mapping[str, Any] | None = None) -> None:
        self.record = record
        self._options = dict(backend_options or {})
        self._backend: Backend | None = None

    def read(self, log_path: str, offset: int = 0) -> bytes:
        return read_from(self.record, log_path, offset, self._files)

    def _files(self) -> RootFiles:
        return kinds.files(self.record.root, self._run_backend)

    def _run_backend(self) -> Backend:
        if self._backend is None:
            self._backend = select_backend_for_root(
                self.record.backend, self.record.root, backend_options=self._options
            )
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def __enter__(self) -> RunLogs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
