"""The UI's JSON, event-stream and file routes over real runs on the process backend."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

import runner
import runner.api
from roots import beneath
from runner.dsl import compile_to_text
from runner.store import SQLiteStore
from runner.ui.app import FOLDER_FILES, create_app
from runner.ui.files import RootReader
from tests.ui.conftest import LOOPBACK, HeldRun, Recorded
from tests.ui.pipelines import imports


def events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs of a server-sent event stream."""
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_runs_are_listed_newest_first_with_their_backend_and_filtered(
    client: TestClient, recorded: Recorded
) -> None:
    listed = client.get("/api/runs").json()
    ids = [run["run_id"] for run in listed["runs"]]
    assert ids == [recorded.second.run_id, recorded.first.run_id]
    assert {run["backend"] for run in listed["runs"]} == {"process"}
    assert listed["pipelines"] == ["ui-reports"]
    assert "SUCCEEDED" in listed["states"]
    assert client.get("/api/runs", params={"state": "FAILED"}).json()["runs"] == []
    assert (
        len(client.get("/api/runs", params={"state": "SUCCEEDED", "pipeline": "ui-reports"}).json()["runs"])
        == 2
    )
    assert client.get("/api/runs", params={"pipeline": "other"}).json()["runs"] == []
    assert (
        client.get("/api/runs", params={"limit": "1"}).json()["runs"][0]["run_id"] == recorded.second.run_id
    )
    assert client.get("/api/runs", params={"limit": "many"}).status_code == 400


def test_a_run_shows_its_tasks_edges_resource_use_and_component_digests(
    client: TestClient, recorded: Recorded
) -> None:
    detail = client.get(f"/api/runs/{recorded.first.run_id}").json()
    assert detail["run"]["params"] == {"rows": 3, "threshold": 0.5}
    assert detail["run"]["outputs"] == {"Output": 3}
    tasks = {task["path"]: task for task in detail["tasks"]}
    assert set(tasks) == {"make-table", "make-reports", "evaluate"}
    assert detail["edges"] == [["make-table", "evaluate"]]
    evaluate = tasks["evaluate"]
    assert evaluate["state"] == "SUCCEEDED"
    assert evaluate["attempts"] == 1
    assert evaluate["duration"] > 0
    assert evaluate["inputs"]["threshold"] == 0.5
    assert evaluate["outputs"] == {"Output": 3}
    assert evaluate["component_digest"].startswith("sha256:")
    assert evaluate["has_log"]
    assert evaluate["peak_memory_bytes"] > 0 and evaluate["cpu_seconds"] >= 0
    assert (
        client.get(f"/api/runs/{recorded.first.run_id[:4]}").json()["run"]["run_id"] == recorded.first.run_id
    )
    missing = client.get("/api/runs/nosuchrun")
    assert missing.status_code == 404 and "nosuchrun" in missing.json()["error"]


def test_the_event_stream_of_a_finished_run_sends_every_task_then_ends(
    client: TestClient, recorded: Recorded
) -> None:
    with client.stream("GET", f"/api/runs/{recorded.first.run_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        received = list(events(stream.iter_lines()))
    assert [name for name, _ in received] == ["update", "end"]
    update = received[0][1]
    assert {task["path"]: task["state"] for task in update["tasks"]} == {
        "make-table": "SUCCEEDED",
        "make-reports": "SUCCEEDED",
        "evaluate": "SUCCEEDED",
    }
    assert update["edges"] == [["make-table", "evaluate"]]
    assert received[1][1] == {"state": "SUCCEEDED"}


def test_the_event_stream_pushes_task_state_changes_while_the_run_goes_on(held_run: HeldRun) -> None:
    with (
        TestClient(create_app(), base_url=LOOPBACK) as client,
        client.stream("GET", f"/api/runs/{held_run.run_id}/events") as stream,
    ):
        states: list[str] = []
        for name, data in events(stream.iter_lines()):
            if name == "end":
                break
            for task in data["tasks"]:
                if task["path"] == "held" and (not states or states[-1] != task["state"]):
                    states.append(task["state"])
                    if task["state"] == "RUNNING":
                        held_run.release()
    assert states[-2:] == ["RUNNING", "SUCCEEDED"]
    assert held_run.finish().succeeded


def test_a_task_log_is_read_whole_and_followed_while_the_task_runs(
    client: TestClient, recorded: Recorded, held_run: HeldRun
) -> None:
    log = client.get(f"/api/runs/{recorded.first.run_id}/logs/evaluate")
    assert "evaluated 3 rows at threshold 0.5" in log.text
    assert (
        client.get(f"/api/runs/{recorded.first.run_id}/logs/evaluate", params={"attempt": "1"}).text
        == log.text
    )
    assert (
        client.get(f"/api/runs/{recorded.first.run_id}/logs/evaluate", params={"attempt": "2"}).status_code
        == 400
    )
    assert client.get(f"/api/runs/{recorded.first.run_id}/logs/nosuchtask").status_code == 404

    with (
        TestClient(create_app(), base_url=LOOPBACK) as live,
        live.stream("GET", f"/api/runs/{held_run.run_id}/log-events/held") as stream,
    ):
        text = ""
        for name, data in events(stream.iter_lines()):
            if name == "log":
                text += data["text"]
                if "waiting" in text:
                    held_run.release()  # the task still runs: its log so far came before its end
            if name == "end":
                assert data == {"state": "SUCCEEDED"}
                break
    assert text.splitlines() == ["waiting", "released"]


def test_a_log_stream_opened_before_its_task_starts_follows_it_to_its_end(held_run: HeldRun) -> None:
    """The stream opens as the run starts, when the task may not be recorded yet: it waits, not ends."""
    releaser = threading.Timer(0.5, held_run.release)  # once the stream below is open, its task waiting
    with TestClient(create_app(), base_url=LOOPBACK) as live:
        releaser.start()
        with live.stream("GET", f"/api/runs/{held_run.run_id}/log-events/last") as stream:
            received = list(events(stream.iter_lines()))
    releaser.join()
    assert received == [("log", {"text": "last done\n"}), ("end", {"state": "SUCCEEDED"})]


def test_artifacts_are_listed_with_size_uri_type_and_metadata(client: TestClient, recorded: Recorded) -> None:
    listed = client.get(f"/api/runs/{recorded.first.run_id}/artifacts").json()
    assert listed["root"] == recorded.first.root
    by_name = {a["name"]: a for a in listed["artifacts"]}
    assert set(by_name) == {"table", "page", "notes", "summary", "picture", "metrics", "matrix"}
    assert by_name["table"]["uri"] == f"{recorded.first.run_id}/make-table/table"
    assert by_name["table"]["size"] == len("name,value\nrow-0,0\nrow-1,10\nrow-2,20\n")
    assert by_name["metrics"]["type"] == "system.Metrics"
    assert by_name["metrics"]["metadata"] == {"rows": 3, "accuracy": 0.875}
    assert by_name["matrix"]["metadata"]["confusionMatrix"]["rows"] == [{"row": [3, 1]}, {"row": [0, 4]}]
    # Shown inline: the image file (found by its bytes), nothing else.
    assert {name for name, artifact in by_name.items() if artifact["image"]} == {"picture"}


def preview(client: TestClient, run_id: str, path: str) -> Any:
    return client.get(f"/api/runs/{run_id}/preview", params={"path": f"{run_id}/{path}"})


def test_previews_show_csv_as_rows_json_text_and_images(client: TestClient, recorded: Recorded) -> None:
    run_id = recorded.first.run_id
    table = preview(client, run_id, "make-table/table").json()
    assert table["kind"] == "csv"
    assert table["rows"] == [["name", "value"], ["row-0", "0"], ["row-1", "10"], ["row-2", "20"]]
    assert not table["truncated"] and not table["more_rows"]
    summary = preview(client, run_id, "make-reports/summary").json()
    assert summary["kind"] == "json"
    assert json.loads(summary["text"]) == {"rows": 3, "ok": True}
    assert preview(client, run_id, "make-reports/picture").json()["kind"] == "image"
    assert preview(client, run_id, "make-reports/page").json()["kind"] == "html"
    assert preview(client, run_id, "make-reports/notes").json()["kind"] == "markdown"
    folder = preview(client, run_id, "make-table").json()
    assert folder["kind"] == "folder" and folder["more"] is False
    assert f"{run_id}/make-table/table" in [f["path"] for f in folder["files"]]


class CountingEntries:
    """A folder's entries as os.scandir gives them, each one read added to `read`."""

    def __init__(self, entries: Any, read: list[str]) -> None:
        self.entries, self.read = entries, read

    def __iter__(self) -> CountingEntries:
        return self

    def __next__(self) -> Any:
        entry = next(self.entries)
        self.read.append(entry.name)
        return entry

    def close(self) -> None:
        self.entries.close()


def test_a_folder_preview_reads_the_folder_only_as_far_as_it_shows(
    recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = recorded.first.run_id
    many = tmp_path / run_id / "many"
    for folder in (many, many / "a", many / "b", many / "a" / "deeper"):
        folder.mkdir(parents=True)
        for number in range(FOLDER_FILES * 2):
            (folder / f"f{number:04}").write_text(str(number))
    with recorded.store() as store:
        record = dataclasses.replace(store.run(run_id), root=str(tmp_path))
    read: list[str] = []
    opened: list[str] = []
    scandir, regular_at = os.scandir, beneath._regular_at

    def opening(folder: int, name: str) -> Any:
        opened.append(name)
        return regular_at(folder, name)

    monkeypatch.setattr(os, "scandir", lambda fd: CountingEntries(scandir(fd), read))
    monkeypatch.setattr(beneath, "_regular_at", opening)
    listing = RootReader().folder(record, f"{run_id}/many", FOLDER_FILES)
    assert listing is not None
    files, more = listing
    assert more and len(files) == FOLDER_FILES == len({path for path, _ in files})
    assert files == sorted(files) and all(path.startswith(f"{run_id}/many/") for path, _ in files)
    assert all(size == len(Path(tmp_path, path).read_text()) for path, size in files)
    # Of the folder's 8 x FOLDER_FILES files, the walk opened one more than it shows, and read a few
    # folder entries besides.
    assert len(opened) == FOLDER_FILES + 1
    assert len(read) <= FOLDER_FILES + 1 + 3


def test_files_download_and_images_are_served_so_they_cannot_run_as_pages(
    client: TestClient, recorded: Recorded
) -> None:
    run_id = recorded.first.run_id
    picture = client.get(f"/api/runs/{run_id}/file", params={"path": f"{run_id}/make-reports/picture"})
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")
    assert picture.headers["content-security-policy"] == "sandbox"
    page = client.get(f"/api/runs/{run_id}/file", params={"path": f"{run_id}/make-reports/page"})
    assert page.headers["content-type"] == "application/octet-stream"
    assert page.headers["x-content-type-options"] == "nosniff"
    download = client.get(
        f"/api/runs/{run_id}/file", params={"path": f"{run_id}/make-table/table", "download": "1"}
    )
    assert download.headers["content-disposition"] == 'attachment; filename="table"'
    assert download.text.startswith("name,value\n")


def test_html_and_markdown_are_served_sandboxed_apart_from_the_ui(
    client: TestClient, recorded: Recorded
) -> None:
    run_id = recorded.first.run_id
    page = client.get(f"/sandbox/runs/{run_id}", params={"path": f"{run_id}/make-reports/page"})
    policy = page.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "allow-scripts" not in policy and "default-src 'none'" in policy
    assert "<h1>report</h1>" in page.text
    notes = client.get(f"/sandbox/runs/{run_id}", params={"path": f"{run_id}/make-reports/notes"})
    assert notes.headers["content-security-policy"] == policy
    assert "<h1>Notes</h1>" in notes.text and "<td>1</td>" in notes.text
    assert "<script>" not in notes.text and "&lt;script&gt;" in notes.text
    table = client.get(f"/sandbox/runs/{run_id}", params={"path": f"{run_id}/make-table/table"})
    assert table.status_code == 400
    ui = client.get("/")
    assert "frame-ancestors 'none'" in ui.headers["content-security-policy"]


def test_paths_that_leave_the_run_folder_are_refused(client: TestClient, recorded: Recorded) -> None:
    run_id, other = recorded.first.run_id, recorded.second.run_id
    outside = Path(recorded.first.root).parent / "secret.txt"
    outside.write_text("secret")
    link = Path(recorded.first.root) / run_id / "make-table" / "escape"
    link.symlink_to(outside)
    refused = [
        f"{run_id}/../secret.txt",
        "../secret.txt",
        f"{run_id}/make-table/../../../secret.txt",
        str(outside),
        f"/{run_id}/make-table/table",
        f"{other}/make-table/table",  # another run's file, through this run
        f"{run_id}/make-table/escape",
        "",
    ]
    for path in refused:
        for route in ("preview", "file"):
            answer = client.get(f"/api/runs/{run_id}/{route}", params={"path": path})
            assert answer.status_code == 403, (route, path, answer.text)
            assert "secret" not in answer.text.replace("secret.txt", "")
        assert client.get(f"/sandbox/runs/{run_id}", params={"path": path}).status_code == 403
    assert client.get(f"/api/runs/{run_id}/preview", params={"path": f"{run_id}/nothing"}).status_code == 403


def test_an_imported_file_outside_the_root_is_listed_but_never_served(tmp_path: Path) -> None:
    """The UI may answer other machines (with a token): it hands out files of the run's folder only, so a
    pipeline that imports a file of this machine does not make that file readable through the page."""
    private = tmp_path / "private.txt"
    private.write_text("private words")
    home = tmp_path / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOW_HOME", str(home))
        result = runner.run(compile_to_text(imports), backend="process", params={"uri": str(private)})
    assert result.succeeded, result.error
    app = create_app(open_store=lambda: SQLiteStore(home / "flow.db"), folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK) as client:
        listed = client.get(f"/api/runs/{result.run_id}/artifacts").json()["artifacts"]
        assert [artifact["uri"] for artifact in listed] == [str(private)]
        for path in (str(private), f"file://{private}", f"{result.run_id}/../../private.txt"):
            for route in ("preview", "file"):
                answer = client.get(f"/api/runs/{result.run_id}/{route}", params={"path": path})
                assert answer.status_code == 403 and "private words" not in answer.text, (route, path)
            sandboxed = client.get(f"/sandbox/runs/{result.run_id}", params={"path": path})
            assert sandboxed.status_code == 403


def test_runs_compare_params_outputs_and_metrics(client: TestClient, recorded: Recorded) -> None:
    first, second = recorded.first.run_id, recorded.second.run_id
    found = client.get("/api/compare", params={"run": [first, second]}).json()
    assert [run["run_id"] for run in found["runs"]] == [first, second]
    params = {row["name"]: row for row in found["params"]}
    assert params["threshold"] == {"name": "threshold", "values": [0.5, 0.7], "same": False}
    assert params["rows"]["values"] == [3, 4]
    metrics = {row["name"]: row["values"] for row in found["metrics"]}
    assert metrics["evaluate/metrics: accuracy"] == [0.875, 0.75]
    assert metrics["evaluate/metrics: rows"] == [3, 4]
    assert {row["name"]: row["same"] for row in found["outputs"]} == {"Output": False}
    assert client.get("/api/compare", params={"run": [first, "nosuchrun"]}).status_code == 404
    for one in ([first], [first, first], []):
        refused = client.get("/api/compare", params={"run": one})
        assert refused.status_code == 400 and "compare 2 to 20 different runs" in refused.json()["error"]
    too_many = client.get("/api/compare", params={"run": [f"run{i}" for i in range(21)]})
    assert too_many.status_code == 400


def write_pipelines(folder: Path) -> None:
    from runner.dsl import compile_to_text
    from tests.ui.pipelines import reports

    (folder / "reports.yaml").write_text(compile_to_text(reports))
    (folder / "pkg").mkdir()
    (folder / "pkg" / "small.py").write_text(
        "from runner import component, pipeline\n\n"
        "@component\ndef shout(text: str) -> str:\n    return text.upper()\n\n"
        "@pipeline(name='small')\ndef small(text: str = 'hi', loud: bool = True) -> str:\n"
        "    return shout(text=text).output\n"
    )
    (folder / "notes.yaml").write_text("just: a config file\n")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "copy.yaml").write_text(compile_to_text(reports))


def wait_finished(client: TestClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()["run"]
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_run_starts_from_a_pipeline_file_with_checked_values(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    write_pipelines(folder)
    with TestClient(create_app(folder=folder), base_url=LOOPBACK) as client:
        found = client.get("/api/pipelines").json()
        assert found["files"] == ["pkg/small.py", "reports.yaml"]
        assert (
            "process" in found["backends"]
            and "local" in found["backends"]
            and "fake" not in found["backends"]
        )
        form = client.post("/api/pipelines/inspect", json={"path": "reports.yaml"}).json()
        assert form["name"] == "ui-reports"
        assert form["inputs"] == [
            {"name": "rows", "type": "NUMBER_INTEGER", "default": "3", "optional": True},
            {"name": "threshold", "type": "NUMBER_DOUBLE", "default": "0.5", "optional": True},
        ]
        start = {"pipeline_id": form["pipeline_id"], "backend": "process"}

        bad = client.post("/api/runs", json={**start, "params": {"rows": "three", "threshold": "0.5"}})
        assert bad.status_code == 400
        assert "rows" in bad.json()["error"] and "expected an integer, got 'three'" in bad.json()["error"]
        unknown = client.post("/api/runs", json={**start, "params": {"colour": "red"}})
        assert "unknown parameter 'colour'" in unknown.json()["error"]
        no_backend = client.post("/api/runs", json={**start, "backend": "mainframe", "params": {}})
        assert no_backend.status_code == 400 and "mainframe" in no_backend.json()["error"]
        assert client.get("/api/runs").json()["runs"] == []  # nothing ran

        started = client.post("/api/runs", json={**start, "params": {"rows": "5", "threshold": ""}})
        assert started.status_code == 201
        run = wait_finished(client, started.json()["run_id"])
        assert run["state"] == "SUCCEEDED" and run["backend"] == "process"
        assert run["params"] == {"rows": 5, "threshold": 0.5}  # the empty field took the default

        python = client.post("/api/pipelines/inspect", json={"path": "pkg/small.py"}).json()
        assert [(i["name"], i["type"], i["default"]) for i in python["inputs"]] == [
            ("loud", "BOOLEAN", "true"),
            ("text", "STRING", "hi"),
        ]
        assert client.post("/api/pipelines/inspect", json={"path": "../outside.yaml"}).status_code == 403
        assert client.post("/api/pipelines/inspect", json={"path": "notes.yaml"}).status_code == 400


def test_an_uploaded_pipeline_starts_and_bad_uploads_say_why(tmp_path: Path) -> None:
    from runner.dsl import compile_to_text
    from tests.ui.pipelines import reports

    with TestClient(create_app(folder=tmp_path), base_url=LOOPBACK) as client:
        form = client.post(
            "/api/pipelines/inspect", json={"name": "mine.yaml", "text": compile_to_text(reports)}
        ).json()
        assert form["source"] == "mine.yaml"
        started = client.post(
            "/api/runs",
            json={"pipeline_id": form["pipeline_id"], "backend": "process", "params": {"rows": "2"}},
        )
        run = wait_finished(client, started.json()["run_id"])
        assert run["outputs"] == {"Output": 2}
        broken = client.post("/api/pipelines/inspect", json={"name": "bad.yaml", "text": "root: [unclosed"})
        assert broken.status_code == 400 and "malformed YAML" in broken.json()["error"]
        # The loader of the CLI: an alias bomb is refused before it expands, deep nesting before libyaml's
        # composer would overflow the UI process's C stack.
        bomb = "root: [&a [x, x, x], &b [*a, *a, *a], &c [*b, *b, *b, *b]]\n"
        deep = "root: " + "[" * 100_000 + "]" * 100_000
        # Nesting is refused by flow's reader at 256 levels, or first by libyaml 0.2.6 and later itself.
        cases = ((bomb, "YAML alias *a is not allowed"), (deep, "nest"))
        for hostile, expected in cases:
            refused = client.post("/api/pipelines/inspect", json={"name": "bad.yaml", "text": hostile})
            assert refused.status_code == 400 and expected in refused.json()["error"], refused.json()
            assert "\n" not in refused.json()["error"]
        not_python = client.post(
            "/api/pipelines/inspect", json={"name": "bad.py", "text": "raise SystemExit(3)\n"}
        )
        assert not_python.status_code == 400 and not_python.json()["error"]
        stale = client.post("/api/runs", json={"pipeline_id": "gone", "backend": "process", "params": {}})
        assert stale.status_code == 400 and "pick it again" in stale.json()["error"]


def test_requests_that_change_things_must_be_json(client: TestClient, recorded: Recorded) -> None:
    # A page of another site can post a form to localhost, but cannot send JSON without asking first.
    form = client.post("/api/runs", data={"pipeline_id": "x"})
    assert form.status_code == 400 and "application/json" in form.json()["error"]
    assert client.post(f"/api/runs/{recorded.first.run_id}/cancel", data={}).status_code == 400


def test_a_running_run_is_cancelled_from_the_ui(held_run: HeldRun) -> None:
    with TestClient(create_app(), base_url=LOOPBACK) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/api/runs/{held_run.run_id}").json()["run"]["state"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        answer = client.post(f"/api/runs/{held_run.run_id}/cancel", json={})
        assert answer.json()["state"] in ("CANCELLING", "CANCELLED")
        held_run._thread.join(60)
        assert held_run.result is not None and held_run.result.state.value == "CANCELLED"
        assert client.post(f"/api/runs/{held_run.run_id}/cancel", json={}).json() == {"state": "CANCELLED"}


def test_the_page_and_its_scripts_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    for name in (
        "app.js",
        "api.js",
        "graph.js",
        "run.js",
        "runs.js",
        "artifacts.js",
        "start.js",
        "compare.js",
        "charts.js",
        "timeline.js",
        "style.css",
    ):
        assert client.get(f"/static/{name}").status_code == 200, name
    # The chart library comes from the UI itself, as the page's policy (default-src 'self') requires.
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/vendor/uPlot.iife.min.js">' in page.text
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"):
        assert client.get(f"/static/vendor/{name}").status_code == 200, name
    assert client.get("/api/health").json() == {"app": "flow-ui"}


KFP_PIPELINE = """
import kfp


@kfp.dsl.component(base_image="flow-test/python:3.11", install_kfp_package=False)
def repeat(text: str, times: int) -> str:
    return text * times


@kfp.dsl.pipeline(name="kfp-repeat")
def repeated(text: str = "ab", times: int = 2) -> str:
    return repeat(text=text, times=times).output
"""


def test_a_kfp_python_file_is_found_inspected_and_started_as_flow_run_takes_it(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "repeat.py").write_text(KFP_PIPELINE)
    with TestClient(create_app(folder=folder), base_url=LOOPBACK) as client:
        assert client.get("/api/pipelines").json()["files"] == ["repeat.py"]
        form = client.post("/api/pipelines/inspect", json={"path": "repeat.py"}).json()
        assert form["name"] == "kfp-repeat"
        assert [(i["name"], i["type"], i["default"]) for i in form["inputs"]] == [
            ("text", "STRING", "ab"),
            ("times", "NUMBER_INTEGER", "2"),
        ]
        started = client.post(
            "/api/runs",
            json={"pipeline_id": form["pipeline_id"], "backend": "process", "params": {"times": "3"}},
        )
        assert started.status_code == 201, started.text
        assert wait_finished(client, started.json()["run_id"])["outputs"] == {"Output": "ababab"}

        uploaded = client.post("/api/pipelines/inspect", json={"name": "up.py", "text": KFP_PIPELINE}).json()
        assert uploaded["source"] == "up.py" and uploaded["name"] == "kfp-repeat"
        several = client.post(
            "/api/pipelines/inspect",
            json={"name": "two.py", "text": KFP_PIPELINE + KFP_PIPELINE.replace("def repeated", "def again")},
        )
        assert several.status_code == 400
        assert "defines several pipelines (again, repeated)" in several.json()["error"]


def test_a_run_started_here_whose_task_hands_back_garbage_ends_failed_and_resumes(tmp_path: Path) -> None:
    """A malformed executor_output.json once crashed the engine in the UI's thread: the run stayed RUNNING
    and `flow resume` refused it while the UI ran. Now the task fails, the run ends, and it resumes."""
    from runner.testing.shellsteps import Step, pipeline

    mark = '"{{$.pipeline_root}}/{{$.pipeline_job_uuid}}.tried"'
    bad = json.dumps({"artifacts": {"a": {"artifacts": [{"uri": 5, "metadata": [1, 2]}]}}})
    script = f"if [ ! -f {mark} ]; then touch {mark}; printf '%s' '{bad}' > \"$0\"; fi"
    text = pipeline({"step": Step(script)}, name="ui-garbage")
    doc = yaml.safe_load(text)
    doc["components"]["comp-step"]["outputDefinitions"] = {
        "artifacts": {"a": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}}
    }
    doc["deploymentSpec"]["executors"]["exec-step"]["container"]["command"].append(
        "{{$.outputs.output_file}}"
    )
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "garbage.yaml").write_text(yaml.safe_dump(doc))
    with TestClient(create_app(folder=folder), base_url=LOOPBACK) as client:
        form = client.post("/api/pipelines/inspect", json={"path": "garbage.yaml"}).json()
        started = client.post("/api/runs", json={"pipeline_id": form["pipeline_id"], "backend": "process"})
        run_id = started.json()["run_id"]
        assert wait_finished(client, run_id)["state"] == "FAILED"
        task = client.get(f"/api/runs/{run_id}").json()["tasks"][0]
        assert "malformed executor_output.json" in task["error"] and "\n" not in task["error"]
        resumed = runner.api.resume(run_id)  # while the UI that started it still runs
        assert resumed.succeeded, resumed.error
