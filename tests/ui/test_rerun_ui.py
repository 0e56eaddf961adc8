"""The run page of a rerun names the run and task it re-ran, linking to that run."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

import runner
from runner.store import SQLiteStore
from runner.testing.shellsteps import Step, pipeline
from runner.ui.app import create_app
from tests.ui.conftest import LOOPBACK


def test_a_rerun_says_what_it_reran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path / "home"))
    original = runner.run(pipeline({"hello": Step("echo hello")}), backend="process")
    again = runner.rerun(original.run_id, "hello")
    app = create_app(open_store=lambda: SQLiteStore(tmp_path / "home" / "flow.db"), folder=tmp_path)

    with TestClient(app, base_url=LOOPBACK) as client:
        shown = client.get(f"/api/runs/{again.run_id}").json()["run"]
        plain = client.get(f"/api/runs/{original.run_id}").json()["run"]
        page = client.get("/static/run.js").text

    assert shown["rerun_of"] == {"run": original.run_id, "task": "hello"}
    assert plain["rerun_of"] is None
    assert "rerun of" in page
