"""An engine's task writes, logged ahead of the SQLite file and applied to it in bulk.

A commit to SQLite in WAL mode takes several file locks and writes a whole page per changed row; an engine
that commits once per scheduler tick spends more on that than on everything else it does. While it drives a
run, its task and artifact writes are appended instead to a log file of that run, one `write` per tick,
which a crash of the engine's process leaves behind intact, and they reach the database in one transaction
every `APPLY_INTERVAL_SECONDS`, before anything else the store is asked, and when the run ends.

A log is locked while its engine lives. Opening a store applies the logs of engines that died, so every
command (`flow show`, `flow resume`) sees a dead engine's last writes. The rows in a log set columns to
values, never to expressions of their old values, so applying a log twice leaves what applying it once
does: a crash between a commit and the cut of the log loses nothing.

Frame: a 4-byte little-endian length, then the `marshal` of a list of (statement, rows); the log only holds
text, numbers and None, which marshal has written the same way since Python 3.4, and loading it runs no
code.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.errors import StoreError
from runner.store.columns import TASK_UPDATE_START

Apply = Callable[..., int]  # commits (statement, rows) batches in one transaction

APPLY_INTERVAL_SECONDS = 0.25
_LENGTH = struct.Struct("<I")
_SUFFIX = ".log"


class RunLog:
    """The log of one engine driving one run: writes are appended at once and applied in bulk."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.path = folder / f"{run_id}{_SUFFIX}"
        folder.mkdir(parents=True, exist_ok=True)
        # Made under another name and locked before it is linked, so no store ever sees it unlocked and
        # takes it for a dead engine's; linking fails where the name is taken, unlike a rename.
        made = folder / f"{run_id}.{os.getpid()}.new"
        self._fd = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            os.link(made, self.path)
        except BaseException as exc:
            os.close(self._fd)
            if isinstance(exc, FileExistsError):
                in_use = "another engine is driving the run: its log is in use"
                raise StoreError(in_use, str(self.path)) from None
            raise
        finally:
            made.unlink()
        self._pending: list[tuple[str, tuple[Any, ...]] | None] = []  # (statement, row); None: superseded
        self._latest_update: dict[str, int] = {}  # task path -> the position of its latest pending update
        self._applied_at = time.monotonic()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def due(self) -> bool:
        return time.monotonic() - self._applied_at >= APPLY_INTERVAL_SECONDS

    def append(self, batches: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Log the batches before returning; they are applied by the next `apply`."""
        payload = marshal.dumps(batches)
        _write_all(self._fd, _LENGTH.pack(len(payload)) + payload)
        # Of two pending updates of one task's row by the same statement, the later one sets every column
        # the earlier one does: the earlier one need not be applied.
        pending, latest = self._pending, self._latest_update
        for sql, rows in batches:
            is_update = sql.startswith(TASK_UPDATE_START)
            for row in rows:
                if is_update:
                    path = row[-1]
                    earlier = latest.get(path)
                    if earlier is not None and (entry := pending[earlier]) is not None and entry[0] == sql:
                        pending[earlier] = None
                    latest[path] = len(pending)
                pending.append((sql, row))

    def apply(self, commit: Apply) -> None:
        """Commit what is pending in one transaction, then cut the log: all it holds is in the database."""
        batches: list[tuple[str, list[tuple[Any, ...]]]] = []
        for entry in self._pending:
            if entry is None:
                continue
            sql, row = entry
            if batches and batches[-1][0] == sql:
                batches[-1][1].append(row)
            else:
                batches.append((sql, [row]))
        if batches:
            commit(*batches)
        self._pending.clear()
        self._latest_update.clear()
        os.ftruncate(self._fd, 0)
        self._applied_at = time.monotonic()

    def close(self, *, applied: bool) -> None:
        """Stop logging; remove the log when everything in it was applied, or leave it for the next store."""
        try:
            if applied:
                self.path.unlink()
        finally:
            os.close(self._fd)


def apply_abandoned(folder: Path, commit: Apply) -> None:
    """Apply and remove the logs of engines that died before applying them; logs of live engines stay."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(_SUFFIX):
            _apply_if_abandoned(folder / name, commit)


def _apply_if_abandoned(path: Path, commit: Apply) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # its engine finished, or another store applied it
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its engine is alive
        if os.fstat(fd).st_nlink == 0:
            return  # removed once applied, between our open and our lock
        with open(fd, "rb", closefd=False) as file:
            batches = _frames(file.read(), path)
        if batches:
            commit(*batches)
        path.unlink()
    finally:
        os.close(fd)


def _frames(data: bytes, path: Path) -> list[tuple[str, list[Any]]]:
    """The batches of a log's frames, in order. A last frame cut short (a write that never finished, so its
    engine never acted on it) is left out."""
    batches: list[tuple[str, list[Any]]] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        start, offset = offset + _LENGTH.size, offset + _LENGTH.size + length
        if offset > len(data):
            break
        try:
            batches.extend(marshal.loads(data[start:offset]))
        except (ValueError, EOFError, TypeError) as exc:
            raise StoreError(f"unreadable run log at byte {start}: {exc}", str(path)) from None
    return batches


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
