"""Runs recorded once per module for the UI tests to read, and a client of the UI's app over their
store that sends the token as the page does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import runner
from runner.dsl import compile_to_text
from runner.store import RunRecord, RunState, SQLiteStore, Store
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline
from runner.ui.app import create_app
from tests.ui.pipelines import reports

LOOPBACK = "http://127.0.0.1"
TOKEN = "test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Recorded:
    """Two finished runs of the reports pipeline, in a store of their own."""

    home: Path
    first: runner.RunResult  # threshold 0.5
    second: runner.RunResult  # threshold 0.7

    def store(self) -> Store:
        return SQLiteStore(self.home / "flow.db")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    home = tmp_path_factory.mktemp("ui-home")
    text = compile_to_text(reports)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOW_HOME", str(home))
        first = runner.run(text, backend="process", params={"threshold": 0.5})
        second = runner.run(text, backend="process", params={"threshold": 0.7, "rows": 4})
    assert first.succeeded and second.succeeded, (first.error, second.error)
    yield Recorded(home, first, second)


@pytest.fixture
def client(recorded: Recorded, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(open_store=recorded.store, token=TOKEN, folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK, headers=BEARER) as test_client:
        yield test_client


class HeldRun:
    """A run of three shell steps whose middle one waits until released, driven in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        steps = {
            "first": Step("echo first done"),
            "held": Step(f"echo waiting; {WAIT_FOR_RELEASE}", after=("first",)),
            "last": Step("echo last done", after=("held",)),
        }
        self.text = pipeline(steps, name="held-steps")
        self.started = threading.Event()
        self.run_id = ""
        self.result: runner.RunResult | None = None
        self._thread = threading.Thread(target=self._drive, daemon=True)

    def _drive(self) -> None:
        def on_start(record: RunRecord) -> None:
            self.run_id = record.run_id
            self.started.set()

        self.result = runner.run(self.text, backend="process", root=self.root, on_start=on_start)

    def start(self) -> HeldRun:
        self._thread.start()
        assert self.started.wait(30), "the run did not start"
        return self

    def release(self) -> None:
        (self.root / "release").touch()

    def finish(self) -> runner.RunResult:
        self.release()
        self._thread.join(60)
        assert self.result is not None
        return self.result


@pytest.fixture
def held_run(tmp_path: Path) -> Iterator[HeldRun]:
    held = HeldRun(tmp_path / "root").start()
    yield held
    held.finish()


def record_runs(store: Store, count: int) -> list[RunRecord]:
    """`count` finished runs recorded as an engine records them (the runs list reads nothing else), oldest
    first: pipelines "alpha" and "beta" in turn, SUCCEEDED and FAILED in turn, parameters trial-<i>."""
    made = []
    for index in range(count):
        record = RunRecord(
            run_id="",
            pipeline=("alpha", "beta")[index % 2],
            pipeline_file=f"{('alpha', 'beta')[index % 2]}.yaml",
            backend="process",
            root="/nowhere",
            state=(RunState.SUCCEEDED, RunState.FAILED)[index % 2],
            params={"name": f"trial-{index}", "lr": index / 100},
            created_at=1_700_000_000 + index,
            started_at=1_700_000_000 + index,
            finished_at=1_700_000_001 + index,
        )
        store.create_run(record)
        made.append(record)
    return made
