"""A resumed engine takes over the attempts an engine that stopped left running (a detached run's driver
replaced by the Job), rather than starting them again; the fake backend keeps its tasks across engines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import runner
from backends.base import TaskStatus
from backends.fake import FakeBackend, Outcome
from runner.engine.scheduler import Engine
from runner.spec import load_text
from runner.store import RunState, SQLiteStore, TaskState
from runner.testing.shellsteps import Step, pipeline


class EngineDied(BaseException):
    """The engine's process ends here, as a deleted driver pod does: nothing is cleaned up or recorded."""


class DiesOnceHeldRuns(FakeBackend):
    """`held` runs for many polls; the first engine dies at the first poll that sees it running."""

    def __init__(self) -> None:
        super().__init__(lambda task: Outcome(polls=5 if task.task_path == "held" else 1))
        self.alive = True

    def poll(self, handles: Sequence[str]) -> dict[str, TaskStatus]:
        if self.alive and any(self.tasks[h].spec.task_path == "held" for h in handles):
            self.alive = False
            raise EngineDied
        return super().poll(handles)


@pytest.mark.parametrize("adopt", [True, False])
def test_a_resumed_engine_adopts_the_running_attempt_instead_of_starting_it_again(
    tmp_path: Path, adopt: bool
) -> None:
    steps = {
        "first": Step("echo first"),
        "held": Step("echo held", after=("first",)),
        "last": Step("echo last", after=("held",)),
    }
    spec = load_text(pipeline(steps))
    backend = DiesOnceHeldRuns()
    with SQLiteStore(tmp_path / "flow.db") as store:
        with pytest.raises(EngineDied):
            runner.run(spec, backend=backend, store=store, root=tmp_path / "root")
        record = store.runs(1)[0]
        held = store.task(record.run_id, "held")
        assert record.state == RunState.RUNNING and held is not None and held.state == TaskState.RUNNING

        engine = Engine(
            spec,
            backend,
            store,
            record,
            root=record.root,
            logs_dir=tmp_path / "logs",
            parallelism=2,
            resume=True,
            adopt=adopt,
        )
        assert engine.execute(record.params) == RunState.SUCCEEDED
        submitted = [task.task_path for task in backend.submitted]
        held = store.task(record.run_id, "held")
    assert submitted.count("first") == 1 and submitted.count("last") == 1
    assert held is not None and held.state == TaskState.SUCCEEDED
    if adopt:
        assert submitted.count("held") == 1 and held.attempts == 1
    else:
        assert submitted.count("held") == 2 and held.attempts == 2
