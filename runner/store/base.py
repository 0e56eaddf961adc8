"""The store: all reads and writes of run metadata, in SQL that SQLite and PostgreSQL both run.

A store implementation supplies a connection through three methods (`_rows`, `_write`, `open_another`)
and its own schema migrations; everything else is here, once.
"""

from __future__ import annotations

import abc
import secrets
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import fields
from typing import Any

from runner.errors import RunNotFoundError
from runner.store.columns import (
    ARTIFACTS,
    LAYOUTS,
    RUN_CHANGES,
    RUN_UPDATE,
    RUNS,
    SPEC_TEXT_INSERT,
    TASKS,
    from_row,
    projection,
    task_update,
)
from runner.store.records import ArtifactRecord, RunRecord, RunState, TaskRecord, TaskState

Batch = tuple[str, Iterable[tuple[Any, ...]]]


# Where a run's row from RUNS.select_own holds its pipeline text's digest, and how many texts one statement
# reads.
_SPEC_AT = [f.name for f in fields(RunRecord)].index("spec_text")
_SPEC_BATCH = 500


def new_run_id() -> str:
    """A candidate run id: short enough to type, random enough that a retry is rare."""
    return secrets.token_hex(4)


def _spec_text(run: RunRecord) -> Batch:
    return SPEC_TEXT_INSERT, [(run.spec_digest, run.spec_text)]


class Store(abc.ABC):
    """All reads and writes of run metadata. Every write is committed before the method returns, so
    another connection (another engine, `flow show`) sees it at once."""

    location: str  # where the store is, for messages: a file's path or a URL with its password hidden

    @abc.abstractmethod
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows a read-only statement (with `?` parameters) selects."""

    @abc.abstractmethod
    def _write(self, *batches: Batch) -> int:
        """Run each (statement, parameter rows) batch, all in one committed transaction; the number of rows
        changed. Concurrent writers wait for each other rather than fail."""

    @abc.abstractmethod
    def open_another(self) -> Store:
        """A new connection to the same store, for another thread (each runs one statement at a time)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; the store's data stays."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _upsert(self, records: Iterable[Any], record_type: type[Any]) -> None:
        self._write((LAYOUTS[record_type].upsert, map(LAYOUTS[record_type].columns.row, records)))

    def _not_found(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id!r} in {self.location}")

    # -- runs -------------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Save a new run under an id no other run has, and set it on the record. The id is taken in the
        same statement that saves the run, so engines creating runs at once never share one."""
        if not run.created_at:
            run.created_at = time.time()
        # The text first, on its own: the run's statement must say alone whether it took the id. A text
        # left by a crash before the run was saved is one no run refers to, and the next run of it uses.
        self._write(_spec_text(run))
        while True:
            run.run_id = new_run_id()
            if self._write((RUNS.insert_new, [RUNS.columns.row(run)])):
                return

    def save_run(self, run: RunRecord) -> None:
        if not run.created_at:
            run.created_at = time.time()
        self._write(_spec_text(run), (RUNS.upsert, [RUNS.columns.row(run)]))

    def save_run_progress(self, run: RunRecord) -> None:
        """Save a run's state, times, error, outputs and engine process; the run must have been saved."""
        if not self._write((RUN_UPDATE, [RUN_CHANGES.row(run)])):
            raise self._not_found(run.run_id)

    def run(self, run_id: str) -> RunRecord:
        """The run with this id, a unique prefix of it, or "latest"."""
        if run_id == "latest":
            rows = self._rows(f"{RUNS.select} ORDER BY created_at DESC LIMIT 1")
        else:
            rows = self._rows(f"{RUNS.select} WHERE run_id = ?", (run_id,))
            if not rows and run_id:
                # A unique prefix; compared with substr, so "%" and "_" are plain characters.
                rows = self._rows(
                    f"{RUNS.select} WHERE substr(run_id, 1, ?) = ? LIMIT 2", (len(run_id), run_id)
                )
        if len(rows) != 1:
            raise self._not_found(run_id)
        return from_row(RunRecord, rows[0])

    def request_cancel(self, run_id: str) -> bool:
        """Mark a running run CANCELLING for its engine to act on; False when the run is not running."""
        changed = self._write(
            (
                "UPDATE runs SET state = ? WHERE run_id = ? AND state IN (?, ?)",
                [(RunState.CANCELLING.value, run_id, RunState.RUNNING.value, RunState.PENDING.value)],
            )
        )
        return changed == 1

    def record_engine_gone(self, run: RunRecord, error: str) -> bool:
        """Record FAILED, with `error`, a run that its engine (`run.engine_pid`) left RUNNING when it died;
        False when the run is no longer so (it ended, or another engine took it over meanwhile)."""
        changed = self._write(
            (
                "UPDATE runs SET state = ?, error = ?, finished_at = ? "
                "WHERE run_id = ? AND state = ? AND engine_pid = ? AND engine_host = ?",
                [
                    (
                        RunState.FAILED.value,
                        error,
                        time.time(),
                        run.run_id,
                        RunState.RUNNING.value,
                        run.engine_pid,
                        run.engine_host,
                    )
                ],
            )
        )
        return changed == 1

    def run_state(self, run_id: str) -> RunState:
        rows = self._rows("SELECT state FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise self._not_found(run_id)
        return RunState(rows[0][0])

    def runs(
        self,
        limit: int | None = 50,
        *,
        states: Collection[RunState] = (),
        pipeline: str | None = None,
        since: float | None = None,
        before: float | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, at most `limit` (None: all): only those in one of `states` (when given), of the
        pipeline named `pipeline`, created at or after `since` and before `before`; filtered in SQL. Runs of
        one pipeline share one copy of its text: a listing of many runs of a big pipeline holds it once."""
        where: list[str] = []
        params: list[Any] = []
        if states:
            where.append(f"runs.state IN ({', '.join('?' * len(states))})")
            params.extend(state.value for state in states)
        if pipeline is not None:
            where.append("runs.pipeline = ?")
            params.append(pipeline)
        if since is not None:
            where.append("runs.created_at >= ?")
            params.append(since)
        if before is not None:
            where.append("runs.created_at < ?")
            params.append(before)
        filtered = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"{RUNS.select_own}{filtered} ORDER BY runs.created_at DESC"
        if limit is not None:
            sql, params = f"{sql} LIMIT ?", [*params, limit]
        rows = self._rows(sql, tuple(params))
        texts = self._spec_texts({row[_SPEC_AT] for row in rows})
        return [
            from_row(RunRecord, (*row[:_SPEC_AT], texts.get(row[_SPEC_AT], ""), *row[_SPEC_AT + 1 :]))
            for row in rows
        ]

    def pipelines(self) -> list[str]:
        """The names of the pipelines that have runs, sorted."""
        return [row[0] for row in self._rows("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline")]

    def _spec_texts(self, digests: Collection[str]) -> dict[str, str]:
        """The pipeline texts of these digests, read a batch at a time (a statement's parameters are few)."""
        texts: dict[str, str] = {}
        ordered = sorted(digests)
        for start in range(0, len(ordered), _SPEC_BATCH):
            batch = ordered[start : start + _SPEC_BATCH]
            marks = ", ".join("?" * len(batch))
            texts.update(
                self._rows(
                    f"SELECT digest, spec_text FROM spec_texts WHERE digest IN ({marks})", tuple(batch)
                )
            )
        return texts

    def delete_finished_run(self, run_id: str) -> bool:
        """Delete a finished run's records (the run, its tasks and artifacts) in one transaction; False, and
        nothing deleted, when the run is not there or not finished. Its pipeline's text stays: other runs
        may share it, and a run being created may be about to refer to it."""
        finished = tuple(state.value for state in RunState if state.finished)
        marks = ", ".join("?" * len(finished))
        # The run's row first: its tasks and artifacts go only when it went, in the same transaction.
        gone = "NOT EXISTS (SELECT 1 FROM runs WHERE run_id = ?)"
        changed = self._write(
            (f"DELETE FROM runs WHERE run_id = ? AND state IN ({marks})", [(run_id, *finished)]),
            (f"DELETE FROM tasks WHERE run_id = ? AND {gone}", [(run_id, run_id)]),
            (f"DELETE FROM artifacts WHERE run_id = ? AND {gone}", [(run_id, run_id)]),
        )
        return changed > 0

    def runs_reusing(self, run_id: str) -> list[str]:
        """The other runs whose artifacts are files of this run (their tasks were cached from its tasks):
        artifacts recorded under the run's folder by runs with the same root."""
        rows = self._rows(
            "SELECT DISTINCT artifacts.run_id FROM artifacts "
            "JOIN runs ON runs.run_id = artifacts.run_id JOIN runs AS owner ON owner.run_id = ? "
            "WHERE artifacts.run_id != ? AND runs.root = owner.root AND substr(artifacts.uri, 1, ?) = ? "
            "ORDER BY artifacts.run_id",
            (run_id, run_id, len(run_id) + 1, f"{run_id}/"),
        )
        return [row[0] for row in rows]

    # -- tasks and artifacts ----------------------------------------------------------------------
    # A run's tasks and artifacts are listed in creation order: SQLite's rowid, and a column of the same
    # name that PostgreSQL numbers from a sequence.

    def save_tasks(self, tasks: Iterable[TaskRecord]) -> None:
        """Write a batch of task records in one transaction."""
        self._upsert(tasks, TaskRecord)

    def save_progress(
        self,
        new_tasks: Collection[TaskRecord],
        changed_tasks: Mapping[tuple[str, ...], Collection[TaskRecord]],
        artifacts: Collection[ArtifactRecord],
    ) -> None:
        """Write what an engine recorded since its last save, in one transaction: task records not saved
        before, task records saved before that changed since (keyed by the columns to write, some of
        `TASK_CHANGEABLE`), and artifact records."""
        batches: list[Batch] = []
        if new_tasks:
            batches.append((TASKS.upsert, map(TASKS.columns.row, new_tasks)))
        for names, records in changed_tasks.items():
            sql, columns = task_update(names)
            batches.append((sql, map(columns.row, records)))
        if artifacts:
            batches.append((ARTIFACTS.upsert, map(ARTIFACTS.columns.row, artifacts)))
        if batches:
            self._write(*batches)

    def tasks(self, run_id: str) -> list[TaskRecord]:
        rows = self._rows(f"{TASKS.select} WHERE run_id = ? ORDER BY rowid", (run_id,))
        return [from_row(TaskRecord, r) for r in rows]

    def task_columns(self, run_id: str, names: tuple[str, ...]) -> list[list[Any]]:
        """Some fields of each of a run's tasks, in the order of `tasks` and with the same types: reading a
        few columns of a big run (a result at the end of a run) costs much less than whole records."""
        columns = projection(names)
        rows = self._rows(f"SELECT {', '.join(names)} FROM tasks WHERE run_id = ? ORDER BY rowid", (run_id,))
        return [columns.values(row) for row in rows]

    def task(self, run_id: str, path: str) -> TaskRecord | None:
        rows = self._rows(f"{TASKS.select} WHERE run_id = ? AND path = ?", (run_id, path))
        return from_row(TaskRecord, rows[0]) if rows else None

    def save_artifacts(self, artifacts: Iterable[ArtifactRecord]) -> None:
        self._upsert(artifacts, ArtifactRecord)

    def find_cached(self, cache_key: str, root: str) -> tuple[TaskRecord, list[ArtifactRecord]] | None:
        """The latest successful task with this cache key whose run used the same root, and its artifacts."""
        rows = self._rows(
            f"{TASKS.select} JOIN runs ON runs.run_id = tasks.run_id "
            "WHERE tasks.cache_key = ? AND tasks.state = ? AND runs.root = ? "
            "ORDER BY tasks.finished_at DESC LIMIT 1",
            (cache_key, TaskState.SUCCEEDED.value, root),
        )
        if not rows:
            return None
        task = from_row(TaskRecord, rows[0])
        return task, self.task_artifacts(task.run_id, task.path)

    def imported_artifacts(
        self, pipeline: str, uri: str, artifact_type: str, root: str | None
    ) -> list[ArtifactRecord]:
        """The artifacts importer tasks of runs of `pipeline` recorded for `uri` with this type, newest
        first; only those of runs with the root `root`, when given."""
        sql = (
            f"{ARTIFACTS.select} JOIN tasks ON tasks.run_id = artifacts.run_id "
            "AND tasks.path = artifacts.task_path JOIN runs ON runs.run_id = artifacts.run_id "
            "WHERE artifacts.uri = ? AND artifacts.type = ? AND tasks.kind = 'importer' AND runs.pipeline = ?"
        )
        params: tuple[Any, ...] = (uri, artifact_type, pipeline)
        if root is not None:
            sql, params = f"{sql} AND runs.root = ?", (*params, root)
        rows = self._rows(f"{sql} ORDER BY runs.created_at DESC", params)
        return [from_row(ArtifactRecord, r) for r in rows]

    def task_artifacts(self, run_id: str, task_path: str) -> list[ArtifactRecord]:
        rows = self._rows(
            f"{ARTIFACTS.select} WHERE run_id = ? AND task_path = ? ORDER BY rowid", (run_id, task_path)
        )
        return [from_row(ArtifactRecord, r) for r in rows]

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        rows = self._rows(f"{ARTIFACTS.select} WHERE run_id = ? ORDER BY rowid", (run_id,))
        return [from_row(ArtifactRecord, r) for r in rows]
