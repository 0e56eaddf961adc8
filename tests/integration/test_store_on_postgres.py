"""The store on the test PostgreSQL server (scripts/postgres-up.sh), each test in a schema of its own: the
unit tests' store and crash-consistency cases run here again on it, migrations mean what SQLite's mean, and
store URLs name it without its password."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from runner.api import open_store
from runner.errors import StoreError
from runner.store import RunRecord, RunState, SQLiteStore, Store, open_url
from runner.store import postgres as postgres_store
from runner.store import sqlite as sqlite_store
from runner.store.postgres import PostgresStore
from tests.cases import cases_taking
from tests.conftest import require_postgres
from tests.unit import test_crash_consistency, test_store
from tests.unit.test_store_migrations import sqlite_columns

globals().update(cases_taking(test_store, "store"))
globals().update(cases_taking(test_crash_consistency, "store_url"))


@pytest.fixture
def store_url(postgres_store_url: str) -> str:
    return postgres_store_url


@pytest.fixture
def store(postgres_store_url: str) -> Iterator[Store]:
    db = open_url(postgres_store_url)
    yield db
    db.close()


# Columns only PostgreSQL needs: SQLite numbers rows in creation order by itself.
POSTGRES_ONLY = {"rowid"}


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


def test_a_postgres_url_names_a_postgres_store(
    postgres_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_STORE", postgres_store_url.replace("postgresql://", "postgres://", 1))
    with open_store() as store:
        assert isinstance(store, PostgresStore)
        assert "flow:***@" in store.location


def test_a_wrong_password_is_one_line_without_it() -> None:
    server = require_postgres()
    wrong = server.replace("://flow:flow@", "://flow:not-the-password@", 1)
    with pytest.raises(StoreError) as info:
        open_url(wrong)
    message = str(info.value)
    assert "cannot connect" in message and "password authentication failed" in message
    assert "not-the-password" not in message and "\n" not in message


@pytest.mark.parametrize(("options", "setting"), [("", "off"), ("-csynchronous_commit=on", "on")])
def test_postgres_commits_reach_the_disk_a_moment_later_unless_the_url_says(
    postgres_store_url: str, options: str, setting: str
) -> None:
    url = f"{postgres_store_url}{quote(f' {options}')}" if options else postgres_store_url
    with open_url(url) as store:
        assert store._rows("SHOW synchronous_commit") == [(setting,)]
        assert store._rows("SELECT count(*) FROM runs") == [(0,)]  # still in the test's own schema
