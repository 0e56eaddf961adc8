"""Assertions on runs that read well and fail with what a person needs: the failed task and its output."""

from __future__ import annotations

from typing import Any

from runner.api import RunResult, TaskResult

LOG_LINES = 20


class ComponentFailedError(AssertionError):
    """A component run alone (FlowSession.component, the `flow_component` fixture) did not succeed; the
    message has the task's error and the last lines of its output, `task` and `run` the whole results."""

    def __init__(self, task: TaskResult, run: RunResult) -> None:
        self.task, self.run = task, run
        error = task.error or run.error or "no error recorded"
        super().__init__(
            f"task {task.name} of run {run.run_id} ended {task.state.value}: {error.splitlines()[0]}\n"
            f"--- its last output lines:\n{log_tail(task) or '(no output)'}"
        )


def log_tail(task: TaskResult, lines: int = LOG_LINES) -> str:
    """The last lines of the output of the task's last attempt."""
    return "\n".join(task.log().splitlines()[-lines:])


def assert_succeeded(result: RunResult) -> None:
    """Fail unless the run succeeded, naming each failed task with the last lines of its output."""
    if result.succeeded:
        return
    lines = [
        f"run {result.run_id} of {result.pipeline} ended {result.state.value}: {result.error.splitlines()[0]}"
        if result.error
        else f"run {result.run_id} of {result.pipeline} ended {result.state.value}"
    ]
    for task in result.tasks.values():
        if task.state.value == "FAILED" and task.kind != "dag":
            lines.append(f"--- task {task.path} failed: {task.error.splitlines()[0] if task.error else ''}")
            lines.append(log_tail(task) or "(no output)")
    raise AssertionError("\n".join(lines))


def outputs_of(result: RunResult) -> dict[str, Any]:
    """What a run produced, comparable across backends: output parameters and artifact content digests."""
    produced: dict[str, Any] = {}
    for task in result.tasks.values():
        if task.kind == "dag":
            continue
        for name, value in task.outputs.items():
            produced[f"{task.path}.{name}"] = value
        for name, artifact in task.artifacts.items():
            produced[f"{task.path}.{name}"] = f"sha256:{artifact.digest}"
    return produced


def assert_same_outputs(first: RunResult, second: RunResult) -> None:
    """Fail unless two runs (on different backends, say) produced the same values and artifact contents."""
    mine, theirs = outputs_of(first), outputs_of(second)
    differences = [
        f"  {key}: {mine.get(key, '(missing)')!r} != {theirs.get(key, '(missing)')!r}"
        for key in sorted(set(mine) | set(theirs))
        if mine.get(key) != theirs.get(key)
    ]
    if differences:
        header = f"runs {first.run_id} and {second.run_id} differ:"
        raise AssertionError("\n".join([header, *differences]))
