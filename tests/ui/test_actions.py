"""The run page's actions through the API: resume a run, rerun one of its tasks, clone it with other values;
and what each says to a run, a task or a value that is not one."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

import runner
from runner.testing.shellsteps import Step, pipeline
from runner.ui.app import create_app
from tests.ui.conftest import LOOPBACK, HeldRun, Recorded
from tests.ui.test_api import wait_finished


def test_a_failed_run_resumes_from_the_ui_and_a_succeeded_one_does_not(
    client: TestClient, recorded: Recorded, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    # Fails until the file `fixed` is in the root: the first run fails, its resume succeeds.
    steps = {
        "first": Step("echo first"),
        "second": Step('test -f "{{$.pipeline_root}}/fixed"', after=("first",)),
    }
    with recorded.store() as store:
        failed = runner.run(pipeline(steps, name="ui-fixable"), backend="process", root=root, store=store)
    assert failed.state.value == "FAILED"
    (root / "fixed").touch()

    answer = client.post(f"/api/runs/{failed.run_id}/resume", json={})
    assert answer.status_code == 200 and answer.json() == {"run_id": failed.run_id}
    assert wait_finished(client, failed.run_id)["state"] == "SUCCEEDED"
    tasks = {task["path"]: task for task in client.get(f"/api/runs/{failed.run_id}").json()["tasks"]}
    assert tasks["second"]["state"] == "SUCCEEDED"

    again = client.post(f"/api/runs/{failed.run_id}/resume", json={})
    assert again.status_code == 400 and "nothing to resume" in again.json()["error"]
    assert client.post("/api/runs/no-such-run/resume", json={}).status_code == 404
    assert client.post(f"/api/runs/{failed.run_id}/resume", data={}).status_code == 400  # not JSON


def test_a_task_reruns_as_a_new_run_and_what_is_no_task_is_refused(
    client: TestClient, recorded: Recorded
) -> None:
    run_id = recorded.first.run_id
    answer = client.post(f"/api/runs/{run_id}/rerun", json={"task": "evaluate"})
    assert answer.status_code == 201, answer.json()
    again = answer.json()["run_id"]
    assert again != run_id
    shown = wait_finished(client, again)
    assert shown["state"] == "SUCCEEDED" and shown["rerun_of"] == {"run": run_id, "task": "evaluate"}

    for task in ("no-such-task", "../evaluate", "evaluate/../../x"):
        refused = client.post(f"/api/runs/{run_id}/rerun", json={"task": task})
        assert refused.status_code == 400 and refused.json()["error"], task
        assert "\n" not in refused.json()["error"]
    for body in ({}, {"task": 5}, {"task": ""}):
        assert client.post(f"/api/runs/{run_id}/rerun", json=body).status_code == 400
    assert client.post("/api/runs/no-such-run/rerun", json={"task": "evaluate"}).status_code == 404

    # A rerun ran one task with its recorded inputs: it is cloned from the run it re-ran, not itself.
    clone = client.post(f"/api/runs/{again}/clone", json={})
    assert clone.status_code == 400 and f"clone {run_id} instead" in clone.json()["error"]


def test_a_clone_fills_the_form_with_the_run_s_values_and_checks_the_edited_ones(
    client: TestClient, recorded: Recorded
) -> None:
    second = recorded.second.run_id  # threshold 0.7, rows 4
    form = client.post(f"/api/runs/{second}/clone", json={}).json()
    assert form["name"] == "ui-reports" and form["backend"] == "process" and form["clone_of"] == second
    assert {field["name"]: field["default"] for field in form["inputs"]} == {"rows": "4", "threshold": "0.7"}

    start = {"pipeline_id": form["pipeline_id"], "backend": "process"}
    wrong = client.post("/api/runs", json={**start, "params": {"rows": "four", "threshold": "0.7"}})
    assert wrong.status_code == 400 and "expected an integer, got 'four'" in wrong.json()["error"]
    not_text = client.post("/api/runs", json={**start, "params": {"rows": 4}})
    assert not_text.status_code == 400
    started = client.post("/api/runs", json={**start, "params": {"rows": "2", "threshold": "0.7"}})
    assert started.status_code == 201
    run = wait_finished(client, started.json()["run_id"])
    assert run["state"] == "SUCCEEDED" and run["params"] == {"rows": 2, "threshold": 0.7}
    assert client.post("/api/runs/no-such-run/clone", json={}).status_code == 404


def test_a_run_still_going_on_in_this_process_is_not_resumed_twice(held_run: HeldRun) -> None:
    """`flow run --ui` serves the page from the process whose engine drives the run: a resume from that page
    must not start a second engine on it."""
    with TestClient(create_app(), base_url=LOOPBACK) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/api/runs/{held_run.run_id}").json()["run"]["state"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        refused = client.post(f"/api/runs/{held_run.run_id}/resume", json={})
        assert refused.status_code == 400 and "is still running" in refused.json()["error"]
    assert held_run.finish().succeeded
