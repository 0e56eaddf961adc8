"""An in-memory backend for engine tests: tasks "run" for a number of polls and finish as scripted."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import REASON_ERROR, PermanentBackendError, Phase, RunInfo, TaskSpec, TaskStatus
from backends.tracking import CANCELLED, Started, TrackingBackend


@dataclass
class Outcome:
    """What a fake task does: run for `polls` polls, then exit with `exit_code` having written its outputs."""

    exit_code: int = 0
    polls: int = 1
    parameters: dict[str, Any] = field(default_factory=dict)  # output name -> value (executor_output.json)
    artifacts: dict[str, bytes] = field(default_factory=dict)  # output name -> file content
    log: str = ""
    reject: str | None = None  # submit raises PermanentBackendError with this message (e.g. image missing)
    reason: str = REASON_ERROR  # why a non-zero exit failed (Evicted, OOMKilled...)


Script = Callable[[TaskSpec], Outcome]

# Without a script every task gets the same outcome and reports one of the same two statuses. Sharing them
# (nothing modifies them) keeps the fake's own cost per task low: benchmarks/engine_overhead.py measures the
# engine against it.
_SUCCESS = Outcome()
_RUNNING = TaskStatus(Phase.RUNNING)
_SUCCEEDED = TaskStatus(Phase.SUCCEEDED, exit_code=0)


@dataclass
class _Running:
    spec: TaskSpec
    outcome: Outcome
    polls_left: int
    started_tick: int
    finished_tick: int | None = None
    cancelled: bool = False


def executor_input(spec: TaskSpec) -> dict[str, Any]:
    """The ExecutorInput the engine resolved for this task."""
    return dict(spec.executor_input)


class FakeBackend(TrackingBackend[_Running]):
    """Runs nothing. `script` decides each task's outcome; without one every task succeeds on its first poll.

    The backend counts polls as ticks and keeps a timeline, so tests can assert on ordering and overlap.
    Its `tasks` are every task it ever started, kept across engines as a runtime keeps its containers.
    """

    name = "fake"

    def __init__(self, script: Script | None = None) -> None:
        super().__init__()
        self.script = script
        self.tick = 0
        self.tasks: dict[str, _Running] = {}
        self.submitted: list[TaskSpec] = []
        self.max_concurrent = 0
        self.running = 0
        self.prepared: list[str] = []
        self.cleaned: list[str] = []

    def prepare(self, run: RunInfo) -> None:
        self.prepared.append(run.run_id)

    def start(self, task: TaskSpec) -> _Running:
        outcome = self.script(task) if self.script else _SUCCESS
        if outcome.reject:
            raise PermanentBackendError(outcome.reject, reason="ImageNotFound")
        self.submitted.append(task)
        running = _Running(task, outcome, outcome.polls, self.tick)
        self.tasks[task.name] = running
        self.running += 1
        self.max_concurrent = max(self.max_concurrent, self.running)
        return running

    def find(self, task: TaskSpec) -> _Running | None:
        return self.tasks.get(task.name)

    def poll(self, handles: Sequence[str]) -> dict[str, TaskStatus]:
        self.tick += 1
        return super().poll(handles)

    def state(self, tasks: Sequence[Started[_Running]]) -> dict[str, TaskStatus]:
        statuses = {}
        for started in tasks:
            task = started.runtime
            if task.finished_tick is None and not task.cancelled:
                task.polls_left -= 1
                if task.polls_left <= 0:
                    self._complete(task)
            statuses[started.name] = self._status(task)
        return statuses

    def _complete(self, task: _Running) -> None:
        task.finished_tick = self.tick
        self.running -= 1
        outcome, spec = task.outcome, task.spec
        if outcome.log and spec.log_path:
            Path(spec.log_path).parent.mkdir(parents=True, exist_ok=True)
            Path(spec.log_path).write_text(outcome.log)
        if outcome.exit_code != 0 or not (outcome.parameters or outcome.artifacts):
            return
        outputs = executor_input(spec)["outputs"]
        for name, content in outcome.artifacts.items():
            path = Path(outputs["artifacts"][name]["artifacts"][0]["uri"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        if outcome.parameters:
            out = Path(outputs["outputFile"])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"parameterValues": outcome.parameters}))

    def _status(self, task: _Running) -> TaskStatus:
        if task.cancelled:
            return CANCELLED
        if task.finished_tick is None:
            return _RUNNING
        if task.outcome.exit_code == 0:
            return _SUCCEEDED
        return TaskStatus(
            Phase.FAILED,
            exit_code=task.outcome.exit_code,
            reason=task.outcome.reason,
            message=f"exited with code {task.outcome.exit_code}",
        )

    def stop(self, task: Started[_Running]) -> None:
        if task.runtime.finished_tick is None and not task.runtime.cancelled:
            task.runtime.cancelled = True
            self.running -= 1

    def remove(self, task: Started[_Running]) -> None:
        """Nothing to remove: the fake keeps its tasks, as a runtime keeping every container would."""

    def remove_run(self, run: RunInfo, keep_failed: bool) -> bool:
        self.cleaned.append(run.run_id)
        return False
