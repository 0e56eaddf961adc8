"""Run, task and artifact metadata in a PostgreSQL database, shared by engines on many machines."""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from psycopg import conninfo

from runner.errors import StoreError, UsageError
from runner.store.base import Batch, Store
from runner.store.url import hide_password

# Each step brings a store from one schema version (the row of flow_schema) to the next; steps never change.
# Step N means what step N of SQLite's migrations means. PostgreSQL's REAL and INTEGER are 4 bytes, so
# times are DOUBLE PRECISION and sizes BIGINT; `rowid` numbers rows in creation order, as SQLite's own does.
_MIGRATIONS = [
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, pipeline TEXT, pipeline_file TEXT, backend TEXT, root TEXT,
        state TEXT, params TEXT, created_at DOUBLE PRECISION, started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION, error TEXT, outputs TEXT, spec_text TEXT
    );
    CREATE TABLE tasks (
        run_id TEXT, path TEXT, name TEXT, component TEXT, kind TEXT, parent TEXT, state TEXT,
        attempts BIGINT, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, inputs TEXT,
        outputs TEXT, error TEXT, exit_code BIGINT, reason TEXT, log_path TEXT, peak_memory_bytes BIGINT,
        cpu_seconds DOUBLE PRECISION, rowid BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (run_id, path)
    );
    CREATE TABLE artifacts (
        run_id TEXT, task_path TEXT, name TEXT, uri TEXT, type TEXT, metadata TEXT, size BIGINT, digest TEXT,
        rowid BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (run_id, task_path, name)
    );
    CREATE INDEX runs_created ON runs (created_at);
    """,
    """
    ALTER TABLE runs ADD COLUMN engine_pid BIGINT;
    ALTER TABLE tasks ADD COLUMN cache_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX tasks_cache_key ON tasks (cache_key) WHERE cache_key != '';
    """,
    """
    ALTER TABLE tasks ADD COLUMN component_digest TEXT NOT NULL DEFAULT '';
    """,
    """
    CREATE INDEX tasks_run ON tasks (run_id, rowid);
    CREATE INDEX artifacts_run ON artifacts (run_id, rowid);
    """,
    """
    ALTER TABLE runs ADD COLUMN rerun_of TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN rerun_task TEXT NOT NULL DEFAULT '';
    """,
    """
    ALTER TABLE runs ADD COLUMN engine_host TEXT NOT NULL DEFAULT '';
    """,
    """
    CREATE TABLE spec_texts (digest TEXT PRIMARY KEY, spec_text TEXT NOT NULL);
    ALTER TABLE runs ADD COLUMN spec_digest TEXT NOT NULL DEFAULT '';
    UPDATE runs SET spec_digest = encode(sha256(convert_to(COALESCE(spec_text, ''), 'UTF8')), 'hex');
    INSERT INTO spec_texts (digest, spec_text) SELECT DISTINCT spec_digest, COALESCE(spec_text, '') FROM runs
        ON CONFLICT (digest) DO NOTHING;
    UPDATE runs SET spec_text = NULL;
    """,
]

# The advisory lock that engines opening the store at once take around a migration (any constant; it only
# has to be flow's own in the database).
_MIGRATION_LOCK = 0x666C6F77  # "flow"
_CONNECT_TIMEOUT_SECONDS = 10


@functools.lru_cache(maxsize=256)
def _with_psycopg_parameters(sql: str) -> str:
    """The shared statements' `?` parameters as psycopg's `%s` (none of them holds a literal ? or %)."""
    return sql.replace("?", "%s")


# The cause a user is told of a server error, by its SQLSTATE (or the first two characters, its class).
_CAUSES = {
    "53100": "the server's disk is full",
    "53": "the server is out of resources",
    "XX001": "the store is corrupted",
    "XX002": "the store is corrupted (an index)",
    "55P03": "the store is locked by another session",
    "40P01": "the store is locked by another session (a deadlock)",
    "25006": "the store is read-only",
    "42501": "the store's user may not do this",
    "08": "the connection to the server was lost",
}


def _one_line(exc: Exception, password: str | None) -> str:
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text.replace(password, "***") if password else text


def _cause(exc: psycopg.Error, password: str | None) -> str:
    """The cause of a server error, then its own text in one line."""
    state = exc.sqlstate or ""
    known = _CAUSES.get(state) or _CAUSES.get(state[:2])
    if known is None and isinstance(exc, psycopg.OperationalError) and not state:
        known = _CAUSES["08"]
    text = _one_line(exc, password)
    return f"{known} ({text})" if known else text


class PostgresStore(Store):
    """A store in a PostgreSQL database (the tables in the first schema of the connection's search_path)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.location = hide_password(url)
        try:
            options = conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise UsageError(f"not a PostgreSQL URL: {_one_line(exc, None)}", self.location) from None
        password = str(options.get("password") or "") or None
        self._password = password
        settings: dict[str, Any] = {}
        if "connect_timeout" not in options:  # an unreachable host fails in seconds, not minutes
            settings["connect_timeout"] = _CONNECT_TIMEOUT_SECONDS
        server_options = str(options.get("options") or "")
        if "synchronous_commit" not in server_options:
            # As SQLite's synchronous=NORMAL: a commit is seen by every connection at once and outlives the
            # engine, but the server flushes it to disk a moment later rather than within each scheduler
            # tick. A crash of the server itself may lose the last fraction of a second; a URL that sets
            # synchronous_commit (options=-csynchronous_commit=on) decides otherwise.
            settings["options"] = f"{server_options} -c synchronous_commit=off".strip()
        url = conninfo.make_conninfo(url, **settings)
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect: {_one_line(exc, password)}", self.location) from None
        try:
            self._migrate()
        except psycopg.Error as exc:
            self._db.close()
            raise StoreError(f"cannot prepare the schema: {_cause(exc, password)}", self.location) from None

    def _migrate(self) -> None:
        # A store already current is only read: a read-only server or user opens it too (`flow runs`).
        if self._db.execute("SELECT to_regclass('flow_schema') IS NOT NULL").fetchone() == (True,):
            row = self._db.execute("SELECT version FROM flow_schema").fetchone()
            if row is not None and row[0] == len(_MIGRATIONS):
                return
        with self._db.transaction():
            # Engines opening a new store at once queue here; the first migrates, the others find it done.
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._db.execute("CREATE TABLE IF NOT EXISTS flow_schema (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT version FROM flow_schema").fetchone()
            if row is None:
                self._db.execute("INSERT INTO flow_schema (version) VALUES (0)")
            version = row[0] if row else 0
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                self._db.execute(script)
                self._db.execute("UPDATE flow_schema SET version = %s", (number,))

    def open_another(self) -> PostgresStore:
        return PostgresStore(self._url)

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(_with_psycopg_parameters(sql), params).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the store: {_cause(exc, self._password)}", self.location) from None

    def _write(self, *batches: Batch) -> int:
        changed = 0
        try:
            with self._db.transaction(), self._db.cursor() as cursor:
                for sql, rows in batches:
                    cursor.executemany(_with_psycopg_parameters(sql), rows)
                    changed += cursor.rowcount
        except psycopg.Error as exc:
            message = f"cannot write to the store: {_cause(exc, self._password)}"
            raise StoreError(message, self.location) from None
        return changed
