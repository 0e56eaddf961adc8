"""What the run page's views read: loop iterations named by their items, artifact lineage; and the
comparison of several runs and the runs list's search and pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import runner
from runner.dsl import compile_to_text
from runner.store import RunRecord, RunState, SQLiteStore
from runner.ui import app as app_module
from runner.ui.app import create_app
from tests.ui.conftest import BEARER, LOOPBACK, TOKEN, record_runs
from tests.ui.pipelines import sweep


@dataclass
class Swept:
    home: Path
    run: runner.RunResult


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Swept:
    home = tmp_path_factory.mktemp("views-api")
    with SQLiteStore(home / "flow.db") as store:
        result = runner.run(
            compile_to_text(sweep),
            backend="process",
            root=home / "root",
            store=store,
            params={"rates": [0.5, 3]},
        )
    assert result.succeeded, result.error
    return Swept(home, result)


@pytest.fixture
def client(swept: Swept, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(open_store=lambda: SQLiteStore(swept.home / "flow.db"), token=TOKEN, folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK, headers=BEARER) as test_client:
        yield test_client


def test_loop_iterations_are_labelled_with_the_input_their_item_became(
    client: TestClient, swept: Swept
) -> None:
    detail = client.get(f"/api/runs/{swept.run.run_id}").json()
    # Each item went to train's input lr (the whole number 3 as the float it takes).
    assert detail["iterations"] == {"for-loop-1/0": "lr=0.5", "for-loop-1/1": "lr=3"}


def test_a_task_s_inputs_are_shown_under_the_names_the_user_wrote(client: TestClient, swept: Swept) -> None:
    tasks = {task["path"]: task for task in client.get(f"/api/runs/{swept.run.run_id}").json()["tasks"]}
    loop = tasks["for-loop-1"]
    # The compiler hands the pipeline's `rates` to the loop as `pipelinechannel--rates`: the page shows
    # `rates`, as `flow show` does; the API's `inputs` keep the IR's names, as `flow show -o json` does.
    assert loop["shown_inputs"] == {"rates": [0.5, 3]}
    assert loop["inputs"] == {"pipelinechannel--rates": [0.5, 3]}
    assert tasks["for-loop-1/0/train"]["shown_inputs"] == {"lr": 0.5}


def test_artifacts_name_the_tasks_that_consumed_them(client: TestClient, swept: Swept) -> None:
    run_id = swept.run.run_id
    listed = client.get(f"/api/runs/{run_id}/artifacts").json()["artifacts"]
    lineage = {artifact["uri"]: (artifact["task_path"], artifact["consumers"]) for artifact in listed}
    assert lineage[f"{run_id}/for-loop-1/0/train/model"] == ("for-loop-1/0/train", ["for-loop-1/0/score"])
    assert lineage[f"{run_id}/for-loop-1/1/train/model"] == ("for-loop-1/1/train", ["for-loop-1/1/score"])


def test_the_runs_list_is_searched_filtered_and_paged(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "flow.db") as store:
        made = record_runs(store, 130)
    app = create_app(open_store=lambda: SQLiteStore(tmp_path / "flow.db"), token=TOKEN, folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK, headers=BEARER) as client:

        def listed(**params: str) -> dict[str, Any]:
            answer = client.get("/api/runs", params=params)
            assert answer.status_code == 200, answer.json()
            found: dict[str, Any] = answer.json()
            return found

        first = listed()
        assert first["total"] == 130 and len(first["runs"]) == 100
        assert first["runs"][0]["run_id"] == made[-1].run_id  # newest first
        second = listed(offset="100")
        assert [run["run_id"] for run in second["runs"]] == [r.run_id for r in reversed(made[:30])]

        found = listed(q="TRIAL-7")  # trial-7 and trial-70 to trial-79, whatever the case
        assert found["total"] == 11
        assert listed(q="trial-7", state="FAILED")["total"] == 6  # the odd ones: 7, 71, 73, ...,  79
        assert listed(q="trial-7", pipeline="alpha", state="FAILED")["total"] == 0
        assert listed(q="lr=1.29")["runs"][0]["run_id"] == made[129].run_id
        assert listed(q=made[3].run_id)["runs"][0]["run_id"] == made[3].run_id
        assert listed(q="alpha.yaml")["total"] == 65
        assert listed(q="<script>")["total"] == 0
        for name, value in (("offset", "-1"), ("offset", "x"), ("limit", "9" * 20), ("state", "DONE")):
            refused = client.get("/api/runs", params={name: value})
            assert refused.status_code == 400 and name in refused.json()["error"]


def test_state_and_pipeline_reach_runs_older_than_the_searched_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SQLiteStore(tmp_path / "flow.db") as store:
        oldest = make_run_of(store, "gamma")
        made = record_runs(store, 12)
    monkeypatch.setattr(app_module, "RUNS_SCANNED", 5)
    app = create_app(open_store=lambda: SQLiteStore(tmp_path / "flow.db"), token=TOKEN, folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK, headers=BEARER) as client:
        everything = client.get("/api/runs").json()
        assert [run["run_id"] for run in everything["runs"]] == [r.run_id for r in reversed(made[-5:])]
        assert everything["pipelines"] == ["alpha", "beta", "gamma"]  # of all runs, not the ones searched
        found = client.get("/api/runs", params={"pipeline": "gamma"}).json()
        assert [run["run_id"] for run in found["runs"]] == [oldest.run_id]
        cancelled = client.get("/api/runs", params={"state": "CANCELLED"}).json()
        assert [run["run_id"] for run in cancelled["runs"]] == [oldest.run_id]
        assert client.get("/api/runs", params={"state": "CANCELLED", "q": "gamma"}).json()["total"] == 1


def make_run_of(store: SQLiteStore, pipeline: str) -> RunRecord:
    record = RunRecord(
        run_id="",
        pipeline=pipeline,
        pipeline_file=f"{pipeline}.yaml",
        backend="process",
        root="/nowhere",
        state=RunState.CANCELLED,
        created_at=1_600_000_000,
    )
    store.create_run(record)
    return record
