"""Moving SQLite's WAL checkpoints off the engine's thread.

In WAL mode with synchronous=NORMAL a commit does not wait for the disk, but the commit that crosses the
auto-checkpoint threshold copies the log into the database and fsyncs it, in the committing thread. An
engine commits once per scheduler tick, so while it drives a run this thread checkpoints instead, with its
own connection, and the engine's connection never does.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

_INTERVAL_SECONDS = 0.5


class Checkpointer:
    """Runs passive checkpoints of one database until stopped; usable as a context manager."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flow-store-checkpoint", daemon=True)

    def __enter__(self) -> Checkpointer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        db = sqlite3.connect(self._path, timeout=60.0, isolation_level=None)
        try:
            while not self._stop.wait(_INTERVAL_SECONDS):
                # PASSIVE never blocks the engine: it copies what it can and leaves the rest for next time.
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()
