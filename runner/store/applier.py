"""Applying a run log to its SQLite database: its frames, and the process that applies them during a run.

An engine's log (runner.store.runlog) reaches the database in bulk. Applying takes as long as everything
else the engine does per task, so once a run has lasted an apply interval the engine hands that work to a
process of its own, started from this file, which runs on another core while the engine goes on:

    python -I -S applier.py DATABASE LOG UPDATE_START INTERVAL START

Every INTERVAL seconds it applies, in one transaction, the frames the engine finished writing since its
last apply (the first time, those from byte START on). The engine asks it to catch up by writing an
offset (8 bytes, little-endian) to its stdin: it applies everything up to there and writes the offset back
on its stdout. At end of input it exits at once, without applying: the engine either asked it to catch up
first, or died, and a dead engine's log is applied by the next store opened. The process shares the
engine's lock on the log (it inherits the locked file), so no store takes the log for a dead engine's
while either of them lives.

This file imports the standard library only: it starts in a fraction of the time the whole package takes.

Frame: a 4-byte little-endian length, then the `marshal` of a list of (statement, rows); the log only holds
text, numbers and None, which marshal has written the same way since Python 3.4, and loading it runs no
code. Rows of a statement that starts with UPDATE_START update the row whose key is their last parameter:
of two such updates of one row by the same statement in one apply, the later one sets every column the
earlier one does, and only it is applied.
"""

from __future__ import annotations

import marshal
import os
import select
import sqlite3
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

Batch = tuple[str, list[tuple[Any, ...]]]
Commit = Callable[..., int]  # commits (statement, rows) batches in one transaction

_LENGTH = struct.Struct("<I")
OFFSET = struct.Struct("<Q")  # a position in the log, in the engine's requests and the replies


class UnreadableLog(ValueError):
    """A frame of the log cannot be read."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(f"unreadable run log at byte {offset}: {problem}")


def frame(batches: list[Batch]) -> bytes:
    payload = marshal.dumps(batches)
    return _LENGTH.pack(len(payload)) + payload


def frames(data: bytes, first_byte: int) -> tuple[list[Batch], int]:
    """The batches of the whole frames in `data`, the log's bytes from `first_byte` on, in order, and how
    many bytes they take: a frame not whole in `data` is one still being written, or one cut short by a
    kill (its engine never acted on it)."""
    batches: list[Batch] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        content = offset + _LENGTH.size
        if content + length > len(data):
            break
        try:
            batches.extend(marshal.loads(data[content : content + length]))
        except (ValueError, EOFError, TypeError) as exc:
            raise UnreadableLog(first_byte + content, str(exc)) from None
        offset = content + length
    return batches, offset


def coalesced(batches: Iterable[Batch], update_start: str) -> list[Batch]:
    """The batches with every row update superseded by a later one left out, and neighbouring batches of
    one statement merged. A row's update stays when another statement changed the row in between: it
    must not land after that one."""
    entries: list[tuple[str, tuple[Any, ...]] | None] = []
    latest_update: dict[Any, int] = {}  # row key -> the position of its latest update
    for sql, rows in batches:
        is_update = sql.startswith(update_start)
        for row in rows:
            if is_update:
                key = row[-1]
                earlier = latest_update.get(key)
                if earlier is not None and (entry := entries[earlier]) is not None and entry[0] == sql:
                    entries[earlier] = None
                latest_update[key] = len(entries)
            entries.append((sql, row))
    merged: list[Batch] = []
    for entry in entries:
        if entry is None:
            continue
        sql, row = entry
        if merged and merged[-1][0] == sql:
            merged[-1][1].append(row)
        else:
            merged.append((sql, [row]))
    return merged


def apply_from(log: BinaryIO, start: int, commit: Commit, update_start: str) -> int:
    """Commit the whole frames of the log from `start` in one transaction; where the next frame starts."""
    log.seek(start)
    batches, size = frames(log.read(), start)
    if batches:
        commit(*coalesced(batches, update_start))
    return start + size


def _bind_null(value: None) -> None:
    return value


# The sqlite3 module adapts a None parameter by looking for an `__adapt__` on its protocol class, which
# raises and formats an AttributeError it then discards. Empty columns (times, exit code, resource figures)
# are bound on every transition: 11 such errors per task made 6% of the engine's instructions. With an
# adapter for None the module finds one at once. It binds NULL either way.
sqlite3.register_adapter(type(None), _bind_null)


def connect(path: str) -> sqlite3.Connection:
    """A connection as every writer of a store has it: WAL, explicit transactions, waiting on the others."""
    # isolation_level=None: transactions are explicit, so a batch of task updates is one commit.
    db = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back to 64 MiB after a checkpoint
    return db


def committer(db: sqlite3.Connection) -> Commit:
    """Commits batches in one transaction, through one cursor (Connection.execute makes one per call)."""
    cursor = db.cursor()

    def commit(*batches: Batch) -> int:
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent engines queue instead of failing.
        cursor.execute("BEGIN IMMEDIATE")
        changed = 0
        try:
            for sql, rows in batches:
                changed += cursor.executemany(sql, rows).rowcount
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        return changed

    return commit


def serve(database: str, log: str, update_start: str, interval: float, applied: int) -> None:
    """Apply the log every `interval` seconds and whenever the engine asks, until its requests end."""
    commit = committer(connect(database))
    requests, replies = sys.stdin.fileno(), sys.stdout.fileno()
    logged = open(log, "rb")  # noqa: SIM115 (open while the process lives)
    due = time.monotonic()  # what the engine logged in its first interval is applied at once
    while True:
        readable, _, _ = select.select([requests], [], [], max(0.0, due - time.monotonic()))
        if not readable:
            applied = apply_from(logged, applied, commit, update_start)
            due = time.monotonic() + interval
            continue
        request = _read_exactly(requests, OFFSET.size)
        if request is None:
            return
        (wanted,) = OFFSET.unpack(request)
        applied = apply_from(logged, applied, commit, update_start)
        if applied < wanted:  # the engine wrote whole frames up to `wanted` before it asked
            raise UnreadableLog(applied, f"the log ends before byte {wanted}")
        os.write(replies, OFFSET.pack(applied))


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


if __name__ == "__main__":
    try:
        serve(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
    except (OSError, sqlite3.Error, UnreadableLog):
        # The engine sees this process gone, applies the log itself and reports what failed in one line.
        os._exit(1)
    # Nothing is left to flush, and SQLite's files are whole at any moment: skipping the interpreter's
    # shutdown (some 10 ms, which the engine waits for at the end of a run) loses nothing.
    os._exit(0)
