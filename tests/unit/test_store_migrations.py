"""Schema migrations: SQLite's steps bring an older store up to date with its runs kept (PostgreSQL's, which
mean the same, in tests/integration/test_store_on_postgres.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runner.store import RunRecord, SQLiteStore
from runner.store import sqlite as sqlite_store


def sqlite_columns(path: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in tables}
    finally:
        db.close()


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
