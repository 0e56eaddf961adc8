"""`flow runs`, `show`, `logs` and `artifacts` as scripts read them: -o json|yaml|wide, ISO 8601 times,
artifacts by their full address everywhere, piped tables whole, filters, and each attempt's log. Two runs
of one pipeline on the process backend serve every test; the second reuses the first's artifact."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

import runner
from runner.cli.main import main
from tests.integration.cli_pipelines import LONG_NOTE, SCRIPTED


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A FLOW_HOME holding two runs of SCRIPTED: the first made `prepare-data`'s artifact and retried
    `flaky` once; the second took `prepare-data` from the cache."""
    folder = tmp_path_factory.mktemp("scripting") / "flow-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOW_HOME", str(folder))
        patch.delenv("FLOW_STORE", raising=False)
        for _ in range(2):
            assert runner.run(SCRIPTED, backend="process").succeeded
    yield folder


@pytest.fixture
def flow(home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FLOW_HOME", str(home))

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def test_show_json_gives_iso_times_and_full_artifact_addresses_everywhere(flow: Any, home: Path) -> None:
    first, second = (run["run_id"] for run in reversed(json.loads(ok(flow("runs", "-o", "json")))))
    shown = json.loads(ok(flow("show", second, "-o", "json")))
    assert yaml.safe_load(ok(flow("show", second, "-o", "yaml"))) == shown
    created = datetime.datetime.fromisoformat(shown["created_at"])
    assert created.utcoffset() == datetime.timedelta(0) and shown["created_at"].endswith("+00:00")
    tasks = {task["path"]: task for task in shown["tasks"]}
    assert tasks["prepare-data"]["state"] == "CACHED"
    made = f"{home}/root/{first}/prepare-data/out"  # the cached task's file is the first run's
    assert tasks["prepare-data"]["artifacts"]["out"]["uri"] == made
    assert tasks["use"]["inputs"]["data"] == [made]
    assert datetime.datetime.fromisoformat(tasks["use"]["finished_at"]).utcoffset() == datetime.timedelta(0)
    assert Path(made).read_text() == "data\n"


def test_piped_tables_are_never_cut_and_show_means_the_latest_run(flow: Any) -> None:
    latest = json.loads(ok(flow("runs", "-o", "json", "--limit", "1")))[0]["run_id"]
    table = ok(flow("show"))
    assert table.startswith(f"run {latest} ")
    row = next(line for line in table.splitlines() if line.startswith("prepare-data "))
    assert "CACHED" in row and LONG_NOTE.strip() in row and "..." not in row
    assert "\x1b[" not in table


def test_wide_tables_add_columns(flow: Any) -> None:
    runs = ok(flow("runs", "-o", "wide")).splitlines()
    assert runs[0].split() == [
        "run", "pipeline", "backend", "state", "started", "duration", "finished", "root", "engine", "error",
    ]  # fmt: skip
    first = runs[-1].split()[0]
    show = ok(flow("show", first, "-o", "wide")).splitlines()
    header = next(line for line in show if line.startswith("task "))
    for column in ("kind", "exit", "reason", "cache key", "image", "container"):
        assert column in header
    flaky = next(line for line in show if line.startswith("flaky "))
    assert "busybox:latest" in flaky and f"flow-{first}-flaky-2" in flaky
    artifacts = ok(flow("artifacts", first, "-o", "wide"))
    assert "sha256" in artifacts.splitlines()[1]


def test_artifacts_list_full_addresses_as_json(flow: Any, home: Path) -> None:
    first = json.loads(ok(flow("runs", "-o", "json")))[-1]["run_id"]
    listed = json.loads(ok(flow("artifacts", first, "-o", "json")))
    assert listed["root"] == f"{home}/root"
    assert [(a["task"], a["name"], a["uri"]) for a in listed["artifacts"]] == [
        ("prepare-data", "out", f"{home}/root/{first}/prepare-data/out")
    ]
    assert f"{home}/root/{first}/prepare-data/out" in ok(flow("artifacts", first))


def test_runs_filters(flow: Any) -> None:
    def ids(*args: str) -> list[str]:
        return [run["run_id"] for run in json.loads(ok(flow("runs", "-o", "json", *args)))]

    both = ids()
    assert len(both) == 2
    assert ids("--state", "succeeded", "--pipeline", "scripted", "--since", "1h") == both
    assert ids("--state", "FAILED") == [] and ids("--pipeline", "other") == []
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    assert ids("--since", tomorrow) == [] and ids("--since", "2000-01-01T00:00+00:00") == both
    for bad in ("yesterday", "30x", "-2h"):
        result = flow("runs", "--since", bad)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "--since" in result.stderr and repr(bad) in result.stderr


def test_logs_show_the_last_attempt_one_attempt_or_all(flow: Any) -> None:
    first = json.loads(ok(flow("runs", "-o", "json")))[-1]["run_id"]
    assert ok(flow("logs", first, "flaky")) == "attempt 2\n"
    assert ok(flow("logs", first, "flaky", "--attempt", "1")) == "attempt 1\nattempt 1 fails\n"
    assert ok(flow("logs", first, "flaky", "--all")) == (
        "==> flaky (attempt 1 of 2) <==\nattempt 1\nattempt 1 fails\n"
        "==> flaky (attempt 2 of 2) <==\nattempt 2\n"
    )
    assert ok(flow("logs", first, "flaky", "--all", "-o", "wide")).splitlines()[1:3] == [
        "[flaky#1] attempt 1",
        "[flaky#1] attempt 1 fails",
    ]
    logs = json.loads(ok(flow("logs", first, "--all", "-o", "json")))
    assert [(entry["task"], entry["attempt"], entry["state"]) for entry in logs] == [
        ("prepare-data", 1, "SUCCEEDED"),
        ("use", 1, "SUCCEEDED"),
        ("flaky", 1, "FAILED"),
        ("flaky", 2, "SUCCEEDED"),
    ]
    assert logs[2]["log"] == "attempt 1\nattempt 1 fails\n"
    for args, expected in [
        (("--attempt", "3"), "task flaky has 2 attempts, not 3"),
        (("--attempt", "1", "--all"), "choose one of --attempt and --all"),
        (("-f", "-o", "json"), "--follow"),
    ]:
        result = flow("logs", first, "flaky", *args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and expected in result.stderr
    result = flow("logs", first, "flakey")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "has no task 'flakey' with logs; did you mean 'flaky'?" in result.stderr


def test_a_reruns_input_artifacts_are_given_by_their_full_address(flow_home: Path) -> None:
    from runner.reruns import rerun

    first = runner.run(SCRIPTED, backend="process")
    again = rerun(first.run_id, "use")
    assert again.succeeded
    result = CliRunner().invoke(main, ["show", again.run_id, "-o", "json"], catch_exceptions=False)
    (task,) = json.loads(result.stdout)["tasks"]
    assert task["inputs"]["data"] == [f"{flow_home}/root/{first.run_id}/prepare-data/out"]
