"""The UI reads a run whose pipeline root is in S3 (the real test server) straight from the bucket."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

import runner
from runner.dsl import compile_to_text
from runner.store import SQLiteStore
from runner.ui.app import create_app
from tests.ui.conftest import LOOPBACK
from tests.ui.pipelines import reports


def test_artifacts_of_an_s3_run_are_listed_previewed_and_served(
    s3_root: str, flow_home: Path, tmp_path: Path
) -> None:
    result = runner.run(compile_to_text(reports), backend="process", params={"threshold": 0.5}, root=s3_root)
    assert result.succeeded, result.error
    run_id = result.run_id

    app = create_app(open_store=lambda: SQLiteStore(flow_home / "flow.db"), folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK) as client:
        listed = client.get(f"/api/runs/{run_id}/artifacts").json()
        table = client.get(f"/api/runs/{run_id}/preview", params={"path": f"{run_id}/make-table/table"})
        served = client.get(f"/api/runs/{run_id}/file", params={"path": f"{run_id}/make-reports/summary"})

    assert listed["root"] == s3_root
    assert {a["name"] for a in listed["artifacts"]} >= {"table", "summary", "metrics"}
    assert table.json()["rows"][:2] == [["name", "value"], ["row-0", "0"]]
    assert served.status_code == 200 and served.json() == {"rows": 3, "ok": True}
