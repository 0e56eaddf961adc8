"""Run, task and artifact metadata in one SQLite file (WAL mode), safe for several engines at once."""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import operator
import secrets
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from runner.errors import RunNotFoundError
from runner.store.checkpoint import Checkpointer
from runner.store.records import ArtifactRecord, RunRecord, RunState, TaskRecord, TaskState

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
]

_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default

_JSON_FIELDS = {"params", "outputs", "inputs", "metadata"}
R = TypeVar("R", RunRecord, TaskRecord, ArtifactRecord)


@dataclass(frozen=True)
class _Columns:
    """Some columns of a record type, and the conversions between records and statement parameters.

    The engine writes rows on every scheduler tick and reads a whole run back at the end: these are on its
    hot path, hence the precomputed getter and positions, and a dict lookup rather than `Enum(value)`.
    """

    names: tuple[str, ...]
    getter: Callable[[Any], tuple[Any, ...]]
    json_positions: tuple[int, ...]
    state_position: int | None
    states: Mapping[str, enum.Enum]  # a state column's text -> the member

    @classmethod
    def of(cls, names: tuple[str, ...], states: type[enum.Enum] | None) -> _Columns:
        return cls(
            names=names,
            getter=operator.attrgetter(*names),
            json_positions=tuple(i for i, c in enumerate(names) if c in _JSON_FIELDS),
            state_position=names.index("state") if "state" in names else None,
            states={member.value: member for member in states} if states is not None else {},
        )

    def row(self, record: Any) -> tuple[Any, ...]:
        values = list(self.getter(record))
        for i in self.json_positions:
            values[i] = json.dumps(values[i], sort_keys=True) if values[i] else "{}"
        if self.state_position is not None:
            values[self.state_position] = values[self.state_position]._value_  # .value is a slow property
        return tuple(values)

    def values(self, row: tuple[Any, ...]) -> list[Any]:
        values = list(row)
        for i in self.json_positions:
            text = values[i]
            values[i] = json.loads(text) if text and text != "{}" else {}
        if self.state_position is not None:
            values[self.state_position] = self.states[values[self.state_position]]
        return values


@dataclass(frozen=True)
class _Layout:
    """How a record type is stored: all its columns, and the statements that read and write it."""

    columns: _Columns
    select: str  # "SELECT <columns> FROM <table>", in field order, so a row builds a record positionally
    upsert: str  # the statement that writes one record


def _layout(record_type: type, table: str, key: tuple[str, ...], states: type[enum.Enum] | None) -> _Layout:
    columns = tuple(f.name for f in fields(record_type))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return _Layout(
        columns=_Columns.of(columns, states),
        select=f"SELECT {', '.join(f'{table}.{c}' for c in columns)} FROM {table}",
        # An upsert, not INSERT OR REPLACE, so a row keeps its rowid and listings keep creation order.
        upsert=(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        ),
    )


_LAYOUTS = {
    RunRecord: _layout(RunRecord, "runs", ("run_id",), RunState),
    TaskRecord: _layout(TaskRecord, "tasks", ("run_id", "path"), TaskState),
    ArtifactRecord: _layout(ArtifactRecord, "artifacts", ("run_id", "task_path", "name"), None),
}
_RUNS, _TASKS, _ARTIFACTS = _LAYOUTS[RunRecord], _LAYOUTS[TaskRecord], _LAYOUTS[ArtifactRecord]

# A task's identity and place in the graph never change once its row exists; a transition changes only the
# rest. Rows the engine wrote before are updated in those columns, rather than rewritten by an upsert.
_TASK_FIXED = ("run_id", "path", "name", "component", "kind", "parent")
_TASK_CHANGES = _Columns.of(
    (*(c for c in _TASKS.columns.names if c not in _TASK_FIXED), "run_id", "path"), TaskState
)
_TASK_UPDATE = (
    f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in _TASK_CHANGES.names[:-2])} "
    "WHERE run_id = ? AND path = ?"
)
# What an engine changes in the run it drives; the rest, such as the pipeline's text, is written once.
_RUN_CHANGES = _Columns.of(
    ("state", "started_at", "finished_at", "error", "outputs", "engine_pid", "run_id"), RunState
)
_RUN_UPDATE = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in _RUN_CHANGES.names[:-1])} WHERE run_id = ?"


@functools.lru_cache(maxsize=16)
def _projection(names: tuple[str, ...]) -> _Columns:
    unknown = set(names) - set(_TASKS.columns.names)
    if unknown:  # the names are put into SQL: only TaskRecord's fields are allowed
        raise ValueError(f"not task columns: {sorted(unknown)}")
    return _Columns.of(names, TaskState)


def _from_row(record_type: type[R], row: tuple[Any, ...]) -> R:
    """The record of a row selected with its layout's `select`."""
    return record_type(*_LAYOUTS[record_type].columns.values(row))


class Store:
    """All reads and writes of run metadata. Every write is committed before the method returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit, so a batch of task updates is one commit.
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.execute(
            "PRAGMA journal_size_limit=67108864"
        )  # the WAL shrinks back to 64 MiB after a checkpoint
        self._migrate()

    @contextlib.contextmanager
    def checkpointing_apart(self) -> Iterator[None]:
        """While an engine drives a run: WAL checkpoints in a background thread, not in its commits."""
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        try:
            with Checkpointer(self.path):
                yield
        finally:
            self._db.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")

    def _migrate(self) -> None:
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

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, *batches: tuple[str, Iterable[tuple[Any, ...]]]) -> int:
        """Run each (statement, parameter rows) batch, all in one transaction; the number of rows changed."""
        # BEGIN IMMEDIATE takes the write lock up front, so concurrent engines queue instead of failing.
        self._db.execute("BEGIN IMMEDIATE")
        changed = 0
        try:
            for sql, rows in batches:
                changed += self._db.executemany(sql, rows).rowcount
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return changed

    def _upsert(self, records: Iterable[Any], record_type: type[Any]) -> None:
        self._write((_LAYOUTS[record_type].upsert, map(_LAYOUTS[record_type].columns.row, records)))

    # -- runs -------------------------------------------------------------------------------------

    def new_run_id(self) -> str:
        """A short id no run in this store has yet."""
        while True:
            run_id = secrets.token_hex(4)
            if self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                return run_id

    def save_run(self, run: RunRecord) -> None:
        if not run.created_at:
            run.created_at = time.time()
        self._upsert([run], RunRecord)

    def save_run_progress(self, run: RunRecord) -> None:
        """Save a run's state, times, error, outputs and engine process; the run must have been saved."""
        if not self._write((_RUN_UPDATE, [_RUN_CHANGES.row(run)])):
            raise RunNotFoundError(f"no run {run.run_id!r} in {self.path}")

    def run(self, run_id: str) -> RunRecord:
        """The run with this id, a unique prefix of it, or "latest"."""
        if run_id == "latest":
            row = self._db.execute(f"{_RUNS.select} ORDER BY created_at DESC LIMIT 1").fetchone()
        else:
            row = self._db.execute(f"{_RUNS.select} WHERE run_id = ?", (run_id,)).fetchone()
            if row is None and run_id:
                # A unique prefix; compared with substr, so "%" and "_" are plain characters.
                rows = self._db.execute(
                    f"{_RUNS.select} WHERE substr(run_id, 1, ?) = ? LIMIT 2", (len(run_id), run_id)
                ).fetchall()
                row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self.path}")
        return _from_row(RunRecord, row)

    def request_cancel(self, run_id: str) -> bool:
        """Mark a running run CANCELLING for its engine to act on; False when the run is not running."""
        self._db.execute("BEGIN IMMEDIATE")
        cursor = self._db.execute(
            "UPDATE runs SET state = ? WHERE run_id = ? AND state IN (?, ?)",
            (RunState.CANCELLING.value, run_id, RunState.RUNNING.value, RunState.PENDING.value),
        )
        self._db.execute("COMMIT")
        return cursor.rowcount == 1

    def run_state(self, run_id: str) -> RunState:
        row = self._db.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self.path}")
        return RunState(row[0])

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._db.execute(f"{_RUNS.select} ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_from_row(RunRecord, r) for r in rows]

    # -- tasks and artifacts ----------------------------------------------------------------------

    def save_tasks(self, tasks: Iterable[TaskRecord]) -> None:
        """Write a batch of task records in one transaction."""
        self._upsert(tasks, TaskRecord)

    def save_progress(
        self,
        new_tasks: Collection[TaskRecord],
        changed_tasks: Collection[TaskRecord],
        artifacts: Collection[ArtifactRecord],
    ) -> None:
        """Write what an engine recorded since its last save, in one transaction: task records not saved
        before, task records saved before (by this engine) that changed since, and artifact records."""
        batches: list[tuple[str, Iterable[tuple[Any, ...]]]] = []
        if new_tasks:
            batches.append((_TASKS.upsert, map(_TASKS.columns.row, new_tasks)))
        if changed_tasks:
            batches.append((_TASK_UPDATE, map(_TASK_CHANGES.row, changed_tasks)))
        if artifacts:
            batches.append((_ARTIFACTS.upsert, map(_ARTIFACTS.columns.row, artifacts)))
        if batches:
            self._write(*batches)

    def tasks(self, run_id: str) -> list[TaskRecord]:
        rows = self._db.execute(f"{_TASKS.select} WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall()
        return [_from_row(TaskRecord, r) for r in rows]

    def task_columns(self, run_id: str, names: tuple[str, ...]) -> list[list[Any]]:
        """Some fields of each of a run's tasks, in the order of `tasks` and with the same types: reading a
        few columns of a big run (a result at the end of a run) costs much less than whole records."""
        columns = _projection(names)
        rows = self._db.execute(
            f"SELECT {', '.join(names)} FROM tasks WHERE run_id = ? ORDER BY rowid", (run_id,)
        ).fetchall()
        return [columns.values(row) for row in rows]

    def task(self, run_id: str, path: str) -> TaskRecord | None:
        row = self._db.execute(f"{_TASKS.select} WHERE run_id = ? AND path = ?", (run_id, path)).fetchone()
        return _from_row(TaskRecord, row) if row else None

    def save_artifacts(self, artifacts: Iterable[ArtifactRecord]) -> None:
        self._upsert(artifacts, ArtifactRecord)

    def find_cached(self, cache_key: str, root: str) -> tuple[TaskRecord, list[ArtifactRecord]] | None:
        """The latest successful task with this cache key whose run used the same root, and its artifacts."""
        rows = self._db.execute(
            f"{_TASKS.select} JOIN runs ON runs.run_id = tasks.run_id "
            "WHERE tasks.cache_key = ? AND tasks.state = ? AND runs.root = ? "
            "ORDER BY tasks.finished_at DESC LIMIT 1",
            (cache_key, TaskState.SUCCEEDED.value, root),
        ).fetchall()
        if not rows:
            return None
        task = _from_row(TaskRecord, rows[0])
        return task, self.task_artifacts(task.run_id, task.path)

    def task_artifacts(self, run_id: str, task_path: str) -> list[ArtifactRecord]:
        rows = self._db.execute(
            f"{_ARTIFACTS.select} WHERE run_id = ? AND task_path = ? ORDER BY rowid", (run_id, task_path)
        ).fetchall()
        return [_from_row(ArtifactRecord, r) for r in rows]

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        rows = self._db.execute(f"{_ARTIFACTS.select} WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall()
        return [_from_row(ArtifactRecord, r) for r in rows]
