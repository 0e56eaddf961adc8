"""What went wrong with a SQLite store, in one line naming the cause: the disk full, the file corrupted or
locked, the store read-only; never a raw sqlite3 or OS traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from runner.errors import StoreError

# sqlite3's error names (Python 3.11), by their primary code, and the cause a user is told.
_CAUSES = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_CORRUPT": "the store is corrupted",
    "SQLITE_NOTADB": "the store is corrupted (not a SQLite database)",
    "SQLITE_BUSY": "the store is locked by another process",
    "SQLITE_LOCKED": "the store is locked by another process",
    "SQLITE_READONLY": "the store is read-only",
    "SQLITE_CANTOPEN": "the store's file cannot be opened",
    "SQLITE_IOERR": "the store's file cannot be read or written",
}
_OS_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the store is read-only",
    errno.EACCES: "the store's files are not accessible",
    errno.EIO: "the store's file cannot be read or written",
}


def cause(exc: sqlite3.Error | OSError, folder: Path | None = None) -> str:
    """The cause of a SQLite or OS error, then its own text: 'the disk is full (database or disk is full)'.
    SQLite reports some writes to a full disk (its shared-memory file's) as an I/O error: with the store's
    `folder`, such an error on a disk with no space left is said to be a full disk."""
    if isinstance(exc, OSError):
        known = _OS_CAUSES.get(exc.errno or 0)
        detail = exc.strerror or str(exc)
    else:
        name = getattr(exc, "sqlite_errorname", "") or ""
        known = next((text for code, text in _CAUSES.items() if name.startswith(code)), None)
        if name.startswith("SQLITE_IOERR") and folder is not None and _no_space_left(folder):
            known = _CAUSES["SQLITE_FULL"]
        detail = str(exc)
    detail = " ".join(detail.split())
    return f"{known} ({detail})" if known else detail


def store_error(exc: sqlite3.Error | OSError, what: str, location: str) -> StoreError:
    """`what` failed, and why, at `location` (the store's file, or a file beside it)."""
    return StoreError(f"{what}: {cause(exc, Path(location).parent)}", location)


def _no_space_left(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False
