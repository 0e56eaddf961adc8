"""`rerun()`: run one task of a recorded run again, as a new run, with the inputs it had."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from backends.base import Backend, BackendError
from roots import kinds
from runner import api, layout
from runner.engine.events import EventListener
from runner.engine.graph import ArtifactRef
from runner.engine.journal import ChangeListener
from runner.errors import UsageError
from runner.reruns import inputs
from runner.reruns.names import name_lookup
from runner.reruns.pipeline import one_task_pipeline
from runner.reruns.target import WHERE, find
from runner.runs.runsession import EngineSettings, RunSession
from runner.spec import PipelineSpec
from runner.spec.model import Component
from runner.store import RunRecord, Store

# Options that say where a cluster root is: the original run's root decides them when reading it.
_ROOT_OPTIONS = ("namespace", "pvc", "storage_class", "pvc_size")


def rerun(
    run_id: str,
    task: str,
    *,
    backend: str | Backend | None = None,
    root: str | Path | None = None,
    store: Store | None = None,
    on_change: ChangeListener | None = None,
    on_event: EventListener | None = None,
    on_start: Callable[[RunRecord], None] | None = None,
    backend_options: Mapping[str, Any] | None = None,
    notify: Callable[[str], None] | None = None,
    task_timeout: float | None = None,
) -> api.RunResult:
    """Run the container task `task` (its path as `flow show` prints it) of the run `run_id` again, as a new
    run of that one task, with the input values and artifacts the store recorded for it; caching is off.

    `backend` defaults to the run's own, reaching the run's root again; any other ("local", "docker", "k8s"
    or an instance) runs it there, with the run's root when that backend can use it, else its default root
    (or `root`). Input artifacts are copied into a new root from the run's, keeping their URIs.
    `on_change`, `on_event`, `backend_options`, `on_start`, `notify`, `task_timeout` and the result are as
    for `runner.run`.
    Raises UsageError (exit code 2) for an unknown run or task, a DAG, a task that never ran, and input
    artifacts missing from the run's root.
    """
    with RunSession(store) as session:
        target = find(session.store, run_id, task)
        spec = one_task_pipeline(target, name_lookup(session.store, target))
        component = _component(spec)
        params = inputs.parameter_values(target.task, spec.root.inputs.parameters)
        refs = inputs.artifact_refs(session.store, target.task, component)
        runtime = _backend(session, target.run, backend, backend_options, notify)
        root_text = _root(runtime, target.run, root)
        _stage(session, target.run, runtime, root_text, refs, backend_options, notify)
        record = session.record(
            RunRecord(
                run_id="",  # create_run gives it
                pipeline=spec.name,
                pipeline_file=target.run.pipeline_file,
                backend=runtime.name,
                root=root_text,
                params=params,
                spec_text=spec.text,
                rerun_of=target.run.run_id,
                rerun_task=target.task.path,
            ),
            on_start,
        )
        settings = EngineSettings(
            parallelism=1, cache=False, task_timeout=task_timeout, on_change=on_change, on_event=on_event
        )
        session.drive(spec, runtime, record, params, refs, settings)
        return api.result(session.store, record.run_id, spec)


def input_artifacts(store: Store, record: RunRecord, spec: PipelineSpec) -> dict[str, list[ArtifactRef]]:
    """The input artifacts of a rerun's task (to resume the rerun), from the records of the run it re-runs."""
    task = store.task(record.rerun_of, record.rerun_task)
    if task is None:
        raise UsageError(f"run {record.rerun_of} no longer has task {record.rerun_task!r}", "flow resume")
    return inputs.artifact_refs(store, task, _component(spec))


def _component(spec: PipelineSpec) -> Component:
    """The component of the one task of a rerun's pipeline."""
    dag = spec.root.dag
    assert dag is not None
    (only,) = dag.tasks.values()
    return spec.component(only.component)


def _backend(
    session: RunSession,
    run: RunRecord,
    backend: str | Backend | None,
    options: Mapping[str, Any] | None,
    notify: Callable[[str], None] | None,
) -> Backend:
    """The rerun's backend: the one given, else the run's own, reaching the run's root again."""
    chosen = backend or run.backend
    root = run.root if chosen == run.backend else None
    return session.backend(chosen, options=options, notify=notify, root=root)


def _root(runtime: Backend, run: RunRecord, requested: str | Path | None) -> str:
    """The rerun's root: the one asked for, else the run's where `runtime` can use it, else its default."""
    default = layout.default_root()
    try:
        if requested is not None:
            return kinds.for_new_run(runtime, str(requested), default)
        # The run's own backend reaches the run's root (a volume claim, a bucket); another backend uses it
        # only when it is a folder of this machine.
        if runtime.name == run.backend or kinds.parse(run.root).on_this_machine:
            try:
                return kinds.for_new_run(runtime, run.root, default)
            except BackendError:
                pass  # not this backend's (another claim was asked for, or a folder pods cannot see)
        return kinds.for_new_run(runtime, None, default)
    except BackendError as exc:
        raise UsageError(str(exc), "--root") from None


def _stage(
    session: RunSession,
    run: RunRecord,
    runtime: Backend,
    root: str,
    refs: Mapping[str, list[ArtifactRef]],
    options: Mapping[str, Any] | None,
    notify: Callable[[str], None] | None,
) -> None:
    """Make the input artifacts present in the rerun's root (see `inputs.stage`)."""
    if not refs:
        return
    same_root = root == run.root
    try:
        # A folder or a bucket is read as it is; else reaching the run's root takes its own backend, and
        # where the root is comes from the run.
        source_options = {k: v for k, v in (options or {}).items() if k not in _ROOT_OPTIONS}
        target = kinds.view(runtime, root).files()
        source = (
            target
            if same_root
            else kinds.files(
                run.root, lambda: session.backend(run.backend, options=source_options, root=run.root)
            )
        )
    except BackendError as exc:
        raise UsageError(f"cannot reach the run's root {run.root}: {exc}", WHERE) from None
    inputs.stage(refs, source, target, same_root, run.root, notify)
