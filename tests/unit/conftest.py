"""Unit tests need no service: the store cases run on SQLite here, and on the test PostgreSQL server in
tests/integration/test_store_on_postgres.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A URL of a new, empty SQLite store."""
    return f"sqlite://{tmp_path / 'store' / 'flow.db'}"
