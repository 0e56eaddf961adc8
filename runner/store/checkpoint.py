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
_FINAL_WAIT_MS = 1000


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
            # While commits come back to back the log is never fully copied at a moment no commit follows,
            # so SQLite never starts it over and it grows all run long (some KB a task). Once the run is
            # done, copy it all and cut the file to nothing; waiting at most a moment for other engines.
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute(f"PRAGMA busy_timeout={_FINAL_WAIT_MS}")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
