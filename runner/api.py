"""The Python API: `run()` a pipeline, get a RunResult. The CLI and pytest fixtures are thin layers on it."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import Backend, BackendError
from roots import kinds
from roots.beneath import RefusedFile
from runner import layout
from runner.engine import mocks
from runner.engine.events import EventListener
from runner.engine.journal import ChangeListener
from runner.engine.mocks import Mock
from runner.errors import UsageError
from runner.runs.runsession import EngineSettings, RunSession
from runner.runs.runsession import logs_dir as logs_dir  # the Python API's, as for every command
from runner.runs.runsession import open_store as open_store
from runner.selection import select_backend_for_root
from runner.spec import PipelineSpec, load_file, load_text
from runner.spec import parameters as pipeline_params
from runner.store import ArtifactRecord, RunRecord, RunState, Store, TaskState
from runner.suggestions import did_you_mean


@dataclass
class ArtifactResult:
    """One output artifact of a task: where it is (on this machine for a local root) and what the store
    knows of it."""

    path: Path
    uri: str  # relative to the run's root; an imported file or object outside it: as the importer named it
    type: str
    metadata: dict[str, Any]
    size: int
    digest: str


@dataclass
class TaskResult:
    path: str
    name: str
    kind: str  # "container", "importer" or "dag"
    state: TaskState
    attempts: int
    outputs: dict[str, Any]
    artifacts: dict[str, ArtifactResult]
    error: str
    log_path: str
    duration: float | None
    component_digest: str  # which version of the component ran (sha256 of its spec)

    def log(self) -> str:
        """The output of the task's last attempt."""
        try:
            return Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


class TaskResults(dict[str, TaskResult]):
    """A run's tasks by path (`prepare-data`, `for-loop-1/0/train`). `tasks["prepare_data"]` finds a task
    by the Python name of its function too, as kfp names the task after it (and as mocks take it); a task
    that is not there is a KeyError with the nearest name there is."""

    def __missing__(self, key: str) -> TaskResult:
        if not isinstance(key, str):
            raise KeyError(key)
        kebab = "/".join(mocks.python_name_as_kfp_makes_it(part) for part in key.split("/"))
        if kebab != key and kebab in self:
            return self[kebab]
        raise KeyError(f"no task {key!r} in the run{did_you_mean(kebab, self)}")


@dataclass
class RunResult:
    run_id: str
    state: RunState
    pipeline: str
    root: str  # as the store records it: a local folder, or where the backend keeps it (pvc://...)
    outputs: dict[str, Any]  # the pipeline's output parameters
    artifacts: dict[str, Path | list[Path]]  # the pipeline's output artifacts, as paths under the root
    tasks: TaskResults = field(default_factory=TaskResults)
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.state == RunState.SUCCEEDED


def load_pipeline(pipeline: Any, function: str | None = None) -> PipelineSpec:
    """A PipelineSpec from what every entry point accepts: a spec, IR YAML text, an IR YAML file, a Python
    file defining a pipeline (flow's SDK or kfp's; `function` names one of several), or a pipeline object
    (a flow @pipeline or component, a kfp pipeline or component)."""
    if isinstance(pipeline, PipelineSpec):
        return pipeline
    if isinstance(pipeline, str) and "\n" in pipeline:
        return load_text(pipeline)
    if isinstance(pipeline, str | Path):
        path = Path(pipeline)
        if path.suffix == ".py":
            from runner.dsl import source  # the SDK loads only for Python pipelines

            return load_text(source.compile_file(path, function), str(path))
        if function is not None:
            raise UsageError("--function is for Python pipeline files", str(path))
        return load_file(path)
    if function is not None:
        raise UsageError("--function is for Python pipeline files", "function")
    from runner.dsl import source

    text = source.compile_object(pipeline)
    return load_text(text, f"<{getattr(pipeline, 'name', type(pipeline).__name__)}>")


def run(
    pipeline: Any,
    *,
    function: str | None = None,
    backend: str | Backend = "process",
    params: Mapping[str, Any] | None = None,
    params_as_text: bool = False,
    root: str | Path | None = None,
    parallelism: int | None = None,
    store: Store | None = None,
    on_change: ChangeListener | None = None,
    on_event: EventListener | None = None,
    on_start: Callable[[RunRecord], None] | None = None,
    backend_options: Mapping[str, Any] | None = None,
    notify: Callable[[str], None] | None = None,
    cache: bool = True,
    task_timeout: float | None = None,
    mock: Mapping[str, Mock] | None = None,
    max_parameter_bytes: int | None = None,
) -> RunResult:
    """Run a pipeline to the end and return its result. Bad input raises a UsageError before anything starts.

    `pipeline` is anything `load_pipeline` takes: an IR YAML or Python file, IR text, a PipelineSpec, or a
    flow or kfp pipeline object; `function` names the pipeline of a Python file that defines several.

    `backend` is a backend name ("local" picks Docker when an engine answers, else "process") or an instance.
    `on_change(task_record)` is called on every task transition, `on_event(event)` with what the records do
    not say (runner.engine.events); `on_start(run_record)` is called once the run exists in the store,
    before its first task starts;
    `notify(message)` receives one-line notices such as the backend chosen for "local".
    `cache=False` runs every task even where an identical earlier one succeeded; `task_timeout` (seconds)
    bounds every task that the pipeline gives no deadline of its own. `mock` answers the named tasks (or
    components, see runner.engine.mocks.resolve) with a function of their inputs or with fixed outputs
    instead of running them (for tests); a key that names no task is a UsageError.
    `max_parameter_bytes`: the largest output parameter a task may hand back (else flow.yaml's
    max_parameter_size, else 1 MiB).
    """
    spec = load_pipeline(pipeline, function)
    values = pipeline_params.bind(spec, params or {}, as_text=params_as_text)
    settings = EngineSettings(
        parallelism=parallelism,
        cache=cache,
        task_timeout=task_timeout,
        max_parameter_bytes=max_parameter_bytes,
        on_change=on_change,
        on_event=on_event,
        mock=mocks.resolve(mock, spec) if mock else None,
    )
    with RunSession(store) as session:
        runtime = session.backend(backend, options=backend_options, notify=notify)
        record = session.record_new(spec, runtime, session.root(runtime, root), values, on_start)
        engine = session.drive(spec, runtime, record, values, settings=settings)
        tasks, task_artifacts = engine.recorded()
        return _run_result(record, map(_result_values, tasks), task_artifacts, spec)


def resume(
    run_id: str,
    *,
    store: Store | None = None,
    parallelism: int | None = None,
    on_change: ChangeListener | None = None,
    on_event: EventListener | None = None,
    backend_options: Mapping[str, Any] | None = None,
    notify: Callable[[str], None] | None = None,
    cache: bool = True,
    task_timeout: float | None = None,
    adopt: bool = False,
    max_parameter_bytes: int | None = None,
    on_start: Callable[[RunRecord], None] | None = None,
) -> RunResult:
    """Finish an interrupted, failed or cancelled run on its backend; tasks that succeeded are not run again.

    What the interrupted engine left running in the backend is removed first, so nothing runs twice; with
    `adopt`, the engine takes those tasks over instead where the backend can (Backend.adopt), and only
    starts again what it cannot. `on_start(run_record)` is called once the run is free to go on and its
    backend is ready and the store shows it running again (not for a run that already succeeded).
    """
    settings = EngineSettings(
        parallelism=parallelism,
        cache=cache,
        task_timeout=task_timeout,
        max_parameter_bytes=max_parameter_bytes,
        on_change=on_change,
        on_event=on_event,
    )
    with RunSession(store) as session:
        record = session.store.run(run_id)
        if record.state == RunState.SUCCEEDED:
            return result(session.store, record.run_id)
        session.check_free(record)
        spec = load_text(record.spec_text, record.pipeline_file)
        runtime = session.backend(record.backend, options=backend_options, notify=notify, root=record.root)
        artifacts_in = _rerun_artifacts(session.store, record, spec)
        if on_start is not None:
            session.going_on(record, on_start)
        session.drive(spec, runtime, record, record.params, artifacts_in, settings, resume=True, adopt=adopt)
        return result(session.store, record.run_id, spec)


def _rerun_artifacts(store: Store, record: RunRecord, spec: PipelineSpec) -> dict[str, Any] | None:
    """A rerun's input artifacts (the root of its pipeline has no task making them), else None."""
    if not record.rerun_of:
        return None
    from runner.reruns import input_artifacts  # imported here: runner.reruns builds on this module

    return input_artifacts(store, record, spec)


def download(record: RunRecord, target: Path, backend_options: Mapping[str, Any] | None = None) -> int:
    """Copy a run's files out of its pipeline root (wherever its backend keeps it) into `target`.
    `backend_options` as for `run` (the image map and pull policy of a cluster's volume helper)."""
    try:
        # Straight from a folder or an object store: the run's backend need not answer there.
        backends: list[Backend] = []

        def run_backend() -> Backend:
            backends.append(
                select_backend_for_root(record.backend, record.root, backend_options=backend_options)
            )
            return backends[-1]

        try:
            return kinds.files(record.root, run_backend).copy_out(record.run_id, target)
        finally:
            for backend in backends:
                backend.close()
    except (BackendError, RefusedFile) as exc:
        raise UsageError(
            f"cannot copy run {record.run_id}'s files: {exc}", "flow artifacts --download"
        ) from None


# What a TaskResult needs of each task record: a run's result reads only these (it is read at the end of
# every run, and a big run has tens of thousands of tasks).
_RESULT_COLUMNS = (
    "path",
    "name",
    "kind",
    "state",
    "attempts",
    "outputs",
    "error",
    "log_path",
    "started_at",
    "finished_at",
    "component_digest",
)


_result_values = operator.attrgetter(*_RESULT_COLUMNS)


def result(store: Store, run_id: str, spec: PipelineSpec | None = None) -> RunResult:
    """The RunResult of a recorded run."""
    record = store.run(run_id)
    if spec is None and record.spec_text:
        spec = load_text(record.spec_text, record.pipeline_file)
    tasks = store.task_columns(record.run_id, _RESULT_COLUMNS)
    return _run_result(record, tasks, store.artifacts(record.run_id), spec)


def _artifact_path(root: Path, uri: str) -> Path:
    """Where an artifact is: under the root, or the file of this machine an importer named."""
    if layout.is_external(uri):
        return Path(layout.local_file(uri) or uri)
    return root / uri


def _run_result(
    record: RunRecord,
    task_values: Iterable[Sequence[Any]],
    task_artifact_records: Iterable[ArtifactRecord],
    spec: PipelineSpec | None,
) -> RunResult:
    """A RunResult from the run's record, the `_RESULT_COLUMNS` of each of its tasks and its artifacts."""
    root = Path(record.root)
    task_artifacts: dict[str, dict[str, ArtifactResult]] = {}
    for art in task_artifact_records:
        task_artifacts.setdefault(art.task_path, {})[art.name] = ArtifactResult(
            path=_artifact_path(root, art.uri),
            uri=art.uri,
            type=art.type,
            metadata=art.metadata,
            size=art.size,
            digest=art.digest,
        )
    tasks = TaskResults()
    for row in task_values:
        path, name, kind, state, attempts, task_outputs, error, log_path, started, finished, digest = row
        tasks[path] = TaskResult(
            path=path,
            name=name,
            kind=kind,
            state=state,
            attempts=attempts,
            outputs=task_outputs,
            artifacts=task_artifacts.get(path, {}),
            error=error,
            log_path=log_path,
            duration=finished - started if started is not None and finished is not None else None,
            component_digest=digest,
        )
    outputs = record.outputs or {}
    list_outputs = set()
    if spec is not None:
        list_outputs = {n for n, a in spec.root.outputs.artifacts.items() if a.is_list}
    pipeline_artifacts: dict[str, Path | list[Path]] = {}
    for name, uris in (outputs.get("artifacts") or {}).items():
        paths = [_artifact_path(root, uri) for uri in uris]
        pipeline_artifacts[name] = paths if name in list_outputs else paths[0]
    return RunResult(
        run_id=record.run_id,
        state=record.state,
        pipeline=record.pipeline,
        root=record.root,
        outputs=dict(outputs.get("parameters") or {}),
        artifacts=pipeline_artifacts,
        tasks=tasks,
        error=record.error,
    )
