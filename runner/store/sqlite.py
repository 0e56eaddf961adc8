"""Run, task and artifact metadata in one SQLite file (WAL mode), safe for several engines at once."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from runner.errors import StoreError
from runner.store.applier import committer, connect
from runner.store.base import Batch, Store, progress_batches
from runner.store.records import ArtifactRecord, TaskRecord, text_digest
from runner.store.runlog import RunLog, apply_abandoned
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


class SQLiteStore(Store):
    """A store in one SQLite file, for one machine. Every write is committed before the method returns,
    except an engine's progress while it drives a run: that is logged first (see `driving`)."""

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
                self._db = connect(str(self.path))
                self._migrate()
            self._commit = committer(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot open the store", self.location) from None
        self._logs = self.path.with_name(f"{self.path.name}-runlogs")
        self._log: RunLog | None = None  # while an engine drives a run through this store
        if not self.read_only:
            with contextlib.suppress(StoreError):  # reading goes on; the next engine applies it again
                self._apply_abandoned()

    @contextlib.contextmanager
    def driving(self, run_id: str) -> Iterator[None]:
        """While an engine drives a run: its progress goes to the run's log and reaches the database in bulk
        (runner.store.runlog)."""
        if self._log is not None:  # one connection, one engine: a second would interleave its writes
            raise RuntimeError(f"this store already drives a run, not {run_id!r} too")
        self._refuse_if_read_only()
        # A log left since this store was opened: its engine died, or its last commit failed.
        self._apply_abandoned()
        try:
            log = RunLog(self._logs, run_id, self.path)
        except OSError as exc:
            raise store_error(exc, "cannot start the run's log", str(self._logs)) from None
        self._log = log
        try:
            yield
        finally:
            self._log = None
            try:
                log.close(self._commit)
            except (OSError, sqlite3.Error) as exc:
                raise store_error(exc, "cannot apply the run's log", self.location) from None

    def save_progress(
        self,
        new_tasks: Collection[TaskRecord],
        changed_tasks: Mapping[tuple[str, ...], Collection[TaskRecord]],
        artifacts: Collection[ArtifactRecord],
    ) -> None:
        log = self._log
        if log is None:
            super().save_progress(new_tasks, changed_tasks, artifacts)
            return
        try:
            log.append(progress_batches(new_tasks, changed_tasks, artifacts), self._commit)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot record the run's progress", str(log.path)) from None

    def _apply_abandoned(self) -> None:
        try:
            apply_abandoned(self._logs, self._commit)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot apply the log of an engine that died", str(self._logs)) from None

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
            self._apply_logged()
            return self._db.execute(sql, params).fetchall()
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot read the store", self.location) from None

    def _write(self, *batches: Batch) -> int:
        self._refuse_if_read_only()
        try:
            self._apply_logged()
            return self._commit(*batches)
        except (OSError, sqlite3.Error) as exc:
            raise store_error(exc, "cannot write to the store", self.location) from None

    def _apply_logged(self) -> None:
        """Commit what the engine logged and did not apply yet: this store answers from all it was given,
        and writes reach the database in the order they were made."""
        if self._log is not None and self._log.pending:
            self._log.apply(self._commit)


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
