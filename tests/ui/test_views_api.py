"""What the run page's views read: loop iterations named by their items, artifact lineage; and the
comparison of several runs and the runs list's search and pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import runner
from runner.dsl import compile_to_text
from runner.store import SQLiteStore
from runner.ui.app import create_app
from tests.ui.conftest import BEARER, LOOPBACK, TOKEN
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


def test_artifacts_name_the_tasks_that_consumed_them(client: TestClient, swept: Swept) -> None:
    run_id = swept.run.run_id
    listed = client.get(f"/api/runs/{run_id}/artifacts").json()["artifacts"]
    lineage = {artifact["uri"]: (artifact["task_path"], artifact["consumers"]) for artifact in listed}
    assert lineage[f"{run_id}/for-loop-1/0/train/model"] == ("for-loop-1/0/train", ["for-loop-1/0/score"])
    assert lineage[f"{run_id}/for-loop-1/1/train/model"] == ("for-loop-1/1/train", ["for-loop-1/1/score"])
