"""Run, task and artifact metadata in one SQLite file (WAL mode), safe for several engines at once."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from runner.errors import StoreError
from runner.store.base import Batch, Store
from runner.store.records import text_digest
from runner.store.trouble import store_error

# Each step brings a store from one schema version (PRAGMA user_version) to the next; steps never change.
_MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, pipeline TEXT, pipeline_file TEXT, backend TEXT, root TEXT,
        state TEXT, params TEXT, created_at REAL, started_at REAL, finished_at REAL, error TEXT,
        outputs TEXT, spec_text TEXT
    );
    CREATE TABLE IF NOT EXISTS tasks (
        run_id TEXT, path TEXT, name TEXT, component TEXT, kind TEXT, parent TEXT, state TEXT,
        attempts INTEGER, started_at REAL, finished_at REAL, inputs TEXT, outputs TEXT, error TEXT,
        exit_code INTEGER, reason TEXT, log_path TEXT, peak_memory_bytes INTEGER, cpu_seconds REAL,
        PRIMARY KEY (run_id, path)
    );
    CREATE TABLE IF NOT EXISTS artifacts (
        run_id TEXT, task_path TEXT, name TEXT, uri TEXT, type TEXT, metadata TEXT, size INTEGER, digest TEXT,
        PRIMARY KEY (run_id, task_path, name)
    );
    CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
    """,
    """
    ALTER TABLE runs ADD COLUMN engine_pid INTEGER;
    ALTER TABLE tasks ADD COLUMN cache_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX tasks_cache_key ON tasks (cache_key) WHERE cache_key != '';
    """,
    """
    ALTER TABLE tasks ADD COLUMN component_digest TEXT NOT NULL DEFAULT '';
    """,
    # A run's tasks and artifacts are listed in creation (rowid) order. An index on run_id keeps each run's
    # entries in rowid order, so a listing is a range scan instead of a sort of the whole run.
    """
    CREATE INDEX tasks_run ON tasks (run_id);
    CREATE INDEX artifacts_run ON artifacts (run_id);
    """,
    """
    ALTER TABLE runs ADD COLUMN rerun_of TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN rerun_task TEXT NOT NULL DEFAULT '';
    """,
    """
    ALTER TABLE runs ADD COLUMN engine_host TEXT NOT NULL DEFAULT '';
    """,
    # Pipeline texts move out of the runs' rows (runner.store.columns.SPEC_TEXT_INSERT says why). Their old
    # column stays, empty: dropping a column needs SQLite 3.35, and Python 3.11 meets older ones (RHEL 9's).
    """
    CREATE TABLE spec_texts (digest TEXT PRIMARY KEY, spec_text TEXT NOT NULL);
    ALTER TABLE runs ADD COLUMN spec_digest TEXT NOT NULL DEFAULT '';
    UPDATE runs SET spec_digest = sha256_hex(COALESCE(spec_text, ''));
    INSERT OR IGNORE INTO spec_texts (digest, spec_text)
        SELECT spec_digest, COALESCE(spec_text, '') FROM runs;
    UPDATE runs SET spec_text = NULL;
    """,
]


def _bind_null(value: None) -> None:
    return value


# The sqlite3 module adapts a None parameter by looking for an `__adapt__` on its protocol class, which
# raises and formats an AttributeError it then discards; empty columns (times, exit code, resource figures)
# are bound on every task transition. With an adapter for None the module finds one at once. It binds NULL
# either way.
sqlite3.register_adapter(type(None), _bind_null)


class SQLiteStore(Store):
    """A store in one SQLite file (WAL mode), for one machine. Every write is one transaction, committed
    before the method returns: an engine's progress too, once per scheduler tick (runner.engine.journal).
    A commit is durable as synchronous=NORMAL makes it: it survives the engine's process being killed,
    and only a crash of the machine may lose the last ones."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        # A store on a read-only disk, or in a folder of someone else's, is still read (`flow runs`,
        # `flow show`); writing to it is a StoreError saying so.
        self.read_only = self.path.exists() and not _writable(self.path)
        try:
            if self.read_only:
                self._db = _connect_read_only(self.path)
                self._check_schema()
            else:
                _make_private(self.path)
                self._db = _connect(self.path)
                self._migrate()
            # One cursor for every write: Connection.execute makes (and registers) a new one per call, and
            # an engine writes on every scheduler tick.
            self._writer = self._db.cursor()
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot open the store", self.location) from None

    def _check_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != len(_MIGRATIONS):
            raise StoreError(
                f"the store is read-only and at schema version {version}, not {len(_MIGRATIONS)}: open it "
                "once where it is writable",
                self.location,
            )

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError("the store is read-only: only reading commands work on it", self.location)

    def _migrate(self) -> None:
        # RunRecord.spec_digest, for the step that moves the pipeline texts (SQLite has no SHA-256).
        self._db.create_function("sha256_hex", 1, text_digest, deterministic=True)
        self._db.execute("BEGIN IMMEDIATE")  # one engine migrates; the others wait and find it done
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def open_another(self) -> SQLiteStore:
        return SQLiteStore(self.path)

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot read the store", self.location) from None

    def _write(self, *batches: Batch) -> int:
        self._refuse_if_read_only()
        try:
            return self._commit(batches)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot write to the store", self.location) from None

    def _commit(self, batches: tuple[Batch, ...]) -> int:
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent engines queue instead of failing.
        cursor = self._writer
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


def _connect(path: Path) -> sqlite3.Connection:
    """A connection as every writer of a store has it: WAL, explicit transactions, waiting on the others."""
    # isolation_level=None: transactions are explicit, so a batch of task updates is one commit.
    db = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=60000")
    db.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back to 64 MiB after a checkpoint
    return db


def _writable(path: Path) -> bool:
    """Whether this process may write the database and make its journal files beside it (false on a
    read-only file system, for root too)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _make_private(path: Path) -> None:
    """The store's folder (0700) and file (0600), made so before SQLite makes it, or made so when they were
    left readable by others; its journal files take the file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    with contextlib.suppress(OSError):  # a file or folder of another user's, shared on purpose
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes. A WAL store needs its shared-memory file to be read; where that is
    missing and cannot be made (a read-only disk), the file is read as it is, which holds everything once
    its last writer closed it."""
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}"
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError:
        db.close()
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    return db
