"""Component digests: what they cover, what they ignore, and that every run records them per task."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import runner
from backends.fake import FakeBackend
from runner.cli.main import main
from runner.errors import SpecError
from runner.spec import load_text
from runner.store import SQLiteStore, TaskRecord
from runner.store.sqlite import _MIGRATIONS


@runner.component
def greet(name: str) -> None:
    print("hello", name)


@runner.component
def shout(name: str) -> None:
    print(name.upper())


@runner.pipeline(name="inner")
def inner(name: str) -> None:
    shout(name=name)


@runner.pipeline(name="greetings")
def greetings(name: str = "flow") -> None:
    greet(name=name)
    inner(name=name)


def document() -> dict[str, Any]:
    return dict(yaml.safe_load(runner.compile_to_text(greetings)))


def digests(doc: dict[str, Any]) -> dict[str, str]:
    return load_text(yaml.safe_dump(doc)).digests


def test_a_digest_is_the_sha256_of_the_canonical_json_of_component_and_executor() -> None:
    doc = document()
    component = doc["components"]["comp-greet"]
    executor = doc["deploymentSpec"]["executors"][component["executorLabel"]]
    definition = {k: v for k, v in component.items() if k != "executorLabel"}
    canonical = json.dumps(
        {"component": definition, "executor": executor}, sort_keys=True, separators=(",", ":")
    )

    assert digests(doc)["comp-greet"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_names_do_not_change_a_digest_and_the_image_does() -> None:
    doc = document()
    before = digests(doc)
    renamed = yaml.safe_load(
        yaml.safe_dump(doc).replace("comp-greet", "comp-hello").replace("exec-greet", "exec-hello")
    )
    assert digests(renamed)["comp-hello"] == before["comp-greet"]

    doc["deploymentSpec"]["executors"]["exec-greet"]["container"]["image"] = "python:3.12"
    after = digests(doc)
    assert after["comp-greet"] != before["comp-greet"]
    assert after["comp-shout"] == before["comp-shout"]


def test_a_dag_digest_changes_with_the_components_its_tasks_call() -> None:
    doc = document()
    before = digests(doc)
    doc["deploymentSpec"]["executors"]["exec-shout"]["container"]["args"].append("--loud")
    after = digests(doc)

    assert after["comp-shout"] != before["comp-shout"]
    assert after["comp-inner"] != before["comp-inner"]
    assert after["comp-greet"] == before["comp-greet"]


def test_components_that_call_each_other_are_a_spec_error() -> None:
    doc = document()
    doc["components"]["comp-shout"] = {"dag": {"tasks": {"again": {"componentRef": {"name": "comp-inner"}}}}}
    with pytest.raises(
        SpecError, match="components call each other in a cycle: comp-inner -> comp-shout -> "
    ):
        digests(doc)


def test_every_task_of_a_run_records_its_component_digest_and_flow_show_states_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    text = runner.compile_to_text(greetings)
    expected = load_text(text).digests
    result = runner.run(text, backend=FakeBackend(), root=tmp_path / "root")
    assert result.succeeded, result.error

    recorded = {path: task.component_digest for path, task in result.tasks.items()}
    assert recorded == {
        "greet": expected["comp-greet"],
        "inner": expected["comp-inner"],
        "inner/shout": expected["comp-shout"],
    }
    assert len(set(recorded.values())) == 3

    shown = CliRunner().invoke(main, ["show", result.run_id, "-o", "json"])
    assert shown.exit_code == 0, shown.output
    tasks = {t["path"]: t["component_digest"] for t in json.loads(shown.output)["tasks"]}
    assert tasks == recorded
    table = CliRunner().invoke(main, ["show", result.run_id], env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    greet_line = next(line for line in table.output.splitlines() if line.strip().startswith("greet "))
    assert expected["comp-greet"].removeprefix("sha256:")[:12] in greet_line


def test_a_store_made_before_digests_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "flow.db"
    old = sqlite3.connect(path)
    for script in _MIGRATIONS[:2]:
        old.executescript(script)
    old.execute("PRAGMA user_version = 2")
    old.execute(
        "INSERT INTO tasks (run_id, path, name, component, kind, state)"
        " VALUES ('r', 't', 't', 'c', 'dag', 'SUCCEEDED')"
    )
    old.commit()
    old.close()

    with SQLiteStore(path) as store:
        (task,) = store.tasks("r")
        assert task.component_digest == ""
        store.save_tasks([TaskRecord("r", "u", "u", "c", "container", component_digest="sha256:ab")])
        assert store.task("r", "u") == TaskRecord(
            "r", "u", "u", "c", "container", component_digest="sha256:ab"
        )
