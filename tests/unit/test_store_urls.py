"""FLOW_STORE URLs: which store each names, and errors that name the store without its password (the cases
that need the PostgreSQL server are in tests/integration/test_store_on_postgres.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.api import open_store
from runner.errors import StoreError, UsageError
from runner.store import SQLiteStore, open_url
from runner.store.url import hide_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://flow:s3cret@db:5432/flow", "postgresql://flow:***@db:5432/flow"),
        ("postgres://flow@db/flow", "postgres://flow@db/flow"),
        ("postgresql://db/flow?user=flow&password=s3cret", "postgresql://db/flow?user=flow&password=***"),
        ("sqlite:///var/flow.db", "sqlite:///var/flow.db"),
    ],
)
def test_hide_password(url: str, shown: str) -> None:
    assert hide_password(url) == shown


def test_without_flow_store_the_store_is_the_sqlite_file_in_flow_home(flow_home: Path) -> None:
    with open_store() as store:
        assert isinstance(store, SQLiteStore) and store.path == flow_home / "flow.db"


def test_a_sqlite_url_names_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_STORE", f"sqlite://{tmp_path}/shared/runs.db")
    with open_store() as store:
        assert isinstance(store, SQLiteStore) and store.path == tmp_path / "shared" / "runs.db"
    assert (tmp_path / "shared" / "runs.db").is_file()


@pytest.mark.parametrize("url", ["mysql://flow:s3cret@db/flow", "/var/flow.db", "sqlite://host/flow.db"])
def test_a_url_of_no_store_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError) as info:
        open_url(url)
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)


def test_an_unreachable_server_is_one_line_naming_the_store_without_its_password() -> None:
    with pytest.raises(StoreError) as info:
        open_url("postgresql://flow:s3cret@127.0.0.1:1/flow")  # nothing listens on port 1
    message = str(info.value)
    assert message.startswith("postgresql://flow:***@127.0.0.1:1/flow: cannot connect: ")
    assert "s3cret" not in message and "\n" not in message


def test_a_file_that_is_no_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "flow.db"
    path.write_text("not a database, " * 100)
    with pytest.raises(
        StoreError,
        match=f"^{path}: cannot open the store: the store is corrupted \\(not a SQLite database\\)",
    ):
        SQLiteStore(path)
