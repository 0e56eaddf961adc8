"""An engine's task writes, logged ahead of the SQLite file and applied to it in bulk.

A commit to SQLite in WAL mode takes several file locks and writes a whole page per changed row; an engine
that commits once per scheduler tick spends more on that than on everything else it does. While it drives a
run, its task and artifact writes are appended instead to a log file of that run, one `write` per tick,
which a crash of the engine's process leaves behind intact. They reach the database in one transaction
every `APPLY_INTERVAL_SECONDS`, before anything else the store is asked, and when the run ends. A run that
lasts longer than one interval hands the applying to a process of its own (runner.store.applier), which
runs beside the engine and applies every `APPLIER_INTERVAL_SECONDS`; the engine applies the log itself
only when that process cannot be started or died.

A log is locked while its engine, or its applier process, lives. Opening a store applies the logs of
engines that died, so every command (`flow show`, `flow resume`) sees a dead engine's last writes. The
rows in a log set columns to values, never to expressions of their old values, so applying a log again
from its start leaves what applying it once does: a crash between a commit and the note of what it applied
loses nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from runner.errors import StoreError
from runner.store import applier
from runner.store.applier import OFFSET, Batch, Commit, UnreadableLog, apply_from
from runner.store.columns import TASK_UPDATE_START

APPLY_INTERVAL_SECONDS = 0.25
# The applier process applies more often than the engine would: its commits cost the engine nothing, and
# what is left when the run ends, which the engine waits for, is then small. At the engine's interval a
# 10,000-task chain waited 110-135 ms at its end (often for an apply under way), at this one 15-40 ms.
APPLIER_INTERVAL_SECONDS = 0.05
_SUFFIX = ".log"


class RunLog:
    """The log of one engine driving one run: writes are appended at once and applied in bulk."""

    def __init__(self, folder: Path, run_id: str, database: Path) -> None:
        self.path = folder / f"{run_id}{_SUFFIX}"
        self._database = database
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
        self._written = 0  # bytes in the log
        self._applied = 0  # of which the database has all the frames
        self._due = time.monotonic() + APPLY_INTERVAL_SECONDS  # when to see that the log gets applied
        self._applier: subprocess.Popen[bytes] | None = None
        self._applier_failed = False  # it could not start or died: this process applies from then on

    @property
    def pending(self) -> bool:
        return self._written > self._applied

    def append(self, batches: list[Batch], commit: Commit) -> None:
        """Log the batches before returning. Once the run has lasted an interval, the applier process is
        started, which applies them from then on; should it not start, or die, this process applies them
        every interval."""
        data = applier.frame(batches)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._written += len(data)
        if time.monotonic() >= self._due:
            self._due = time.monotonic() + APPLY_INTERVAL_SECONDS
            if self._applier is None and not self._applier_failed:
                self._start_applier()
            if self._applier is None or self._applier.poll() is not None:
                self.apply(commit)

    def apply(self, commit: Commit) -> None:
        """Make everything logged so far reach the database before returning."""
        if self._applier is not None:
            try:
                self._applied = self._ask_applier(self._written)
                return
            except (OSError, ValueError):
                # What it applied past its last reply is applied again below: harmless, as rows set values.
                self._applier_failed = True
                self._stop_applier()
        with open(self.path, "rb") as log:
            self._applied = _apply(log, self.path, self._applied, commit)

    def close(self, commit: Commit) -> None:
        """Stop logging: apply what is left and remove the log. Should applying fail, the log stays for
        the next store opened to apply."""
        try:
            if self.pending:
                self.apply(commit)
        finally:
            self._stop_applier()
            os.close(self._fd)
        self.path.unlink()

    def _start_applier(self) -> None:
        command = [
            sys.executable,
            "-I",
            "-S",
            applier.__file__,
            str(self._database),
            str(self.path),
            TASK_UPDATE_START,
            str(APPLIER_INTERVAL_SECONDS),
            str(self._applied),
        ]
        try:
            # It inherits the locked log: the lock holds until both processes are gone. A session of its
            # own keeps a terminal's Ctrl-C from it: it stops when the engine's requests end.
            self._applier = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=(self._fd,),
                start_new_session=True,
            )
        except (OSError, ValueError):
            self._applier_failed = True

    def _ask_applier(self, offset: int) -> int:
        """Have the applier process apply the log up to `offset`; how far it applied."""
        process = self._applier
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(OFFSET.pack(offset))
        process.stdin.flush()
        reply = process.stdout.read(OFFSET.size)
        if len(reply) != OFFSET.size:
            raise ValueError("the run log's applier stopped")
        (applied,) = OFFSET.unpack(reply)
        return int(applied)

    def _stop_applier(self) -> None:
        """End the applier process's input; it exits at once."""
        process, self._applier = self._applier, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # it died with a request of ours unread
                    stream.close()
        process.wait()


def apply_abandoned(folder: Path, commit: Commit) -> None:
    """Apply and remove the logs of engines that died before applying them; logs of live engines stay."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(_SUFFIX):
            _apply_if_abandoned(folder / name, commit)


def _apply_if_abandoned(path: Path, commit: Commit) -> None:
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
        with open(fd, "rb", closefd=False) as log:
            _apply(log, path, 0, commit)
        path.unlink()
    finally:
        os.close(fd)


def _apply(log: BinaryIO, path: Path, start: int, commit: Commit) -> int:
    """applier.apply_from in this process, with an unreadable log a StoreError naming it (only a bug or
    another program writing to the log makes one)."""
    try:
        return apply_from(log, start, commit, TASK_UPDATE_START)
    except UnreadableLog as exc:
        raise StoreError(str(exc), str(path)) from None
