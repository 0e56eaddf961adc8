"""Which task of a recorded run `flow rerun` runs again, checked to be one that can be."""

from __future__ import annotations

from dataclasses import dataclass

from runner.errors import UsageError
from runner.spec import PipelineSpec, load_text
from runner.store import RunRecord, Store, TaskRecord, TaskState
from runner.suggestions import did_you_mean

WHERE = "flow rerun"


@dataclass(frozen=True)
class Target:
    """A container task of a recorded run, with the pipeline the run ran."""

    run: RunRecord
    task: TaskRecord
    spec: PipelineSpec


def find(store: Store, run_id: str, task: str) -> Target:
    """The task `task` (its path as `flow show` prints it, or a name only one task has) of the run
    `run_id`. Raises UsageError for an unknown run or task, a DAG or importer, and a task that never ran."""
    run = store.run(run_id)
    record = _task(store, run, task)
    if record.kind == "dag":
        raise UsageError(
            f"task {record.path!r} of run {run.run_id} is a DAG (a nested pipeline or loop), not a container "
            "task: rerun one of the tasks inside it (flow show lists them)",
            WHERE,
        )
    if record.kind != "container":
        raise UsageError(
            f"task {record.path!r} of run {run.run_id} is an {record.kind}, not a container task", WHERE
        )
    # A container task's inputs are recorded when it is started or answered from the cache; one that was
    # skipped, never started or failed before it had inputs has none to run with.
    if not record.attempts and record.state != TaskState.CACHED:
        raise UsageError(
            f"task {record.path!r} of run {run.run_id} never ran ({record.state.value}): it has no "
            "recorded inputs to run with",
            WHERE,
        )
    return Target(run=run, task=record, spec=load_text(run.spec_text, run.pipeline_file or "<stored>"))


def _task(store: Store, run: RunRecord, wanted: str) -> TaskRecord:
    record = store.task(run.run_id, wanted)
    if record is not None:
        return record
    tasks = store.tasks(run.run_id)
    named = [t for t in tasks if t.name == wanted]
    if len(named) == 1:
        return named[0]
    if named:
        paths = ", ".join(t.path for t in named)
        raise UsageError(
            f"task name {wanted!r} is ambiguous in run {run.run_id}, use its path: {paths}", WHERE
        )
    known = [name for task in tasks for name in (task.path, task.name)]
    raise UsageError(
        f"run {run.run_id} has no task {wanted!r} (flow show {run.run_id} lists its tasks)"
        + did_you_mean(wanted, known),
        WHERE,
    )
