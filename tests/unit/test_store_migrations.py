"""Schema migrations: PostgreSQL's steps mean what SQLite's mean, an older store is brought up to date with
its runs kept, and engines opening a new store at once migrate it once (on the real PostgreSQL server)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg

from runner.store import RunRecord, RunState, SQLiteStore, open_url
from runner.store import postgres as postgres_store
from runner.store import sqlite as sqlite_store

# Columns only PostgreSQL needs: SQLite numbers rows in creation order by itself.
POSTGRES_ONLY = {"rowid"}


def sqlite_columns(path: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in tables}
    finally:
        db.close()


def postgres_columns(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name != 'flow_schema'"
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return {table: names - POSTGRES_ONLY for table, names in columns.items()}


def postgres_version(url: str) -> int:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT version FROM flow_schema").fetchall()
    assert len(rows) == 1, rows
    version: int = rows[0][0]
    return version


def test_both_stores_reach_the_same_version_with_the_same_tables_and_columns(
    tmp_path: Path, postgres_store_url: str
) -> None:
    assert len(postgres_store._MIGRATIONS) == len(sqlite_store._MIGRATIONS)
    SQLiteStore(tmp_path / "flow.db").close()
    open_url(postgres_store_url).close()
    assert postgres_columns(postgres_store_url) == sqlite_columns(tmp_path / "flow.db")
    assert postgres_version(postgres_store_url) == len(postgres_store._MIGRATIONS)


def test_an_older_postgres_store_is_migrated_and_keeps_its_runs(postgres_store_url: str) -> None:
    with psycopg.connect(postgres_store_url, autocommit=True) as db:  # a store an older flow made
        db.execute("CREATE TABLE flow_schema (version INTEGER NOT NULL)")
        for script in postgres_store._MIGRATIONS[:2]:
            db.execute(script)
        db.execute("INSERT INTO flow_schema (version) VALUES (2)")
        db.execute(
            "INSERT INTO runs (run_id, pipeline, pipeline_file, backend, root, state, params, created_at, "
            "error, outputs, spec_text, engine_pid) "
            "VALUES ('old1', 'p', 'p.yaml', 'process', '/r', 'SUCCEEDED', '{}', 5.0, '', '{}', 'x', 42)"
        )
    with open_url(postgres_store_url) as store:
        old = store.run("old1")
        assert (old.state, old.engine_pid, old.created_at, old.rerun_of) == (RunState.SUCCEEDED, 42, 5.0, "")
        assert old.spec_text == "x"
        assert store._rows("SELECT digest FROM spec_texts") == [(old.spec_digest,)]
        fresh = RunRecord(run_id="", pipeline="p", pipeline_file="p.yaml", backend="process", root="/r")
        store.create_run(fresh)
        assert {r.run_id for r in store.runs()} == {"old1", fresh.run_id}
    assert postgres_version(postgres_store_url) == len(postgres_store._MIGRATIONS)


def test_an_older_sqlite_store_is_migrated_and_keeps_its_runs_and_their_texts(tmp_path: Path) -> None:
    path = tmp_path / "flow.db"
    db = sqlite3.connect(path, isolation_level=None)  # a store an older flow made: its texts in the runs
    for script in sqlite_store._MIGRATIONS[:6]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 6")
    for run_id, text in (("old1", "shared"), ("old2", "shared"), ("old3", "its own")):
        db.execute(
            "INSERT INTO runs (run_id, pipeline, pipeline_file, backend, root, state, params, created_at, "
            "error, outputs, spec_text) VALUES (?, 'p', 'p.yaml', 'process', '/r', 'SUCCEEDED', '{}', 5.0, "
            "'', '{}', ?)",
            (run_id, text),
        )
    db.close()
    with SQLiteStore(path) as store:
        assert [store.run(r).spec_text for r in ("old1", "old2", "old3")] == ["shared", "shared", "its own"]
        fresh = RunRecord(run_id="", pipeline="p", pipeline_file="", backend="process", root="/r")
        fresh.spec_text = "shared"
        store.create_run(fresh)
        assert store.run(fresh.run_id).spec_text == "shared"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM spec_texts").fetchall() == [(2,)]
        assert db.execute("SELECT COUNT(*) FROM runs WHERE spec_text IS NOT NULL").fetchall() == [(0,)]


def test_engines_opening_a_new_postgres_store_at_once_migrate_it_once(postgres_store_url: str) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def open_and_write(n: int) -> None:
        try:
            start.wait()
            with open_url(postgres_store_url) as store:
                store.save_run(RunRecord(run_id=f"r{n}", pipeline="p", pipeline_file="", backend="", root=""))
        except BaseException as exc:  # reported by the test thread below
            failures.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert postgres_version(postgres_store_url) == len(postgres_store._MIGRATIONS)
    with open_url(postgres_store_url) as store:
        assert sorted(r.run_id for r in store.runs()) == ["r0", "r1", "r2", "r3"]
