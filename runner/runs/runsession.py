"""One run on this machine's engine, from the store to its end: what `flow run`, `flow resume`, `flow rerun`,
the UI's launcher, a detached run's submission and its driver share.

A RunSession opens the store (unless it is given one), makes the backend and chooses the pipeline root,
records the run, drives the engine, and closes what it opened. A run it recorded or took up that its engine
did not end (an error before the engine ran, Ctrl-C before it started) is recorded as ended on the way out,
so that no run stays PENDING or RUNNING behind a process that goes on (the UI), and `flow resume` takes it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from backends.base import Backend, BackendError, RunInfo
from roots import kinds
from runner import layout
from runner.config import load_config
from runner.engine.events import EventListener
from runner.engine.graph import ArtifactRef
from runner.engine.journal import ChangeListener
from runner.engine.mocks import Mock
from runner.engine.scheduler import Engine
from runner.errors import FlowError, StoreError, UsageError
from runner.selection import select_backend, select_backend_for_root
from runner.spec import PipelineSpec
from runner.store import RunRecord, RunState, SQLiteStore, Store, open_url


def open_store() -> Store:
    """The store FLOW_STORE names (a postgresql:// or sqlite:/// URL), else the SQLite file under $FLOW_HOME
    (or the user's data directory). Every command and the Python API open their store here."""
    url = os.environ.get("FLOW_STORE")
    if url:
        return open_url(url)
    home = layout.flow_home()
    try:
        layout.private_folder(home)
    except OSError as exc:
        raise StoreError(f"cannot make flow's home folder: {exc.strerror}", str(home)) from None
    return SQLiteStore(home / "flow.db")


def logs_dir() -> Path:
    """Where an engine on this machine keeps task logs: a folder only its owner reads."""
    return layout.private_folder(layout.private_home() / "logs")


@dataclass(frozen=True)
class EngineSettings:
    """How the engine drives a run."""

    parallelism: int | None = None  # tasks running at once; None: the CPU count
    cache: bool = True
    task_timeout: float | None = None  # seconds, for every task the pipeline gives no deadline
    max_parameter_bytes: int | None = None  # None: flow.yaml's max_parameter_size
    on_change: ChangeListener | None = None
    on_event: EventListener | None = None
    mock: Mapping[str, Mock] | None = None


class RunSession:
    """The store, the backends and the run of one engine on this machine; closed on exit."""

    def __init__(self, store: Store | None = None) -> None:
        """`store`: one its caller keeps open and closes; else the session opens its own."""
        self._own_store = store is None
        self.store = store if store is not None else open_store()
        self._made: list[Backend] = []  # the backends this session made, closed with it
        self._taken: RunRecord | None = None  # the run this session's engine is answerable for

    def __enter__(self) -> RunSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if error is not None and self._taken is not None:
                self._end_unfinished(self._taken, error)
        finally:
            try:
                for backend in self._made:
                    backend.close()
            finally:
                if self._own_store:
                    self.store.close()

    def backend(
        self,
        chosen: str | Backend,
        *,
        options: Mapping[str, Any] | None = None,
        notify: Callable[[str], None] | None = None,
        root: str | None = None,
    ) -> Backend:
        """The backend `chosen` names (`local`: Docker when an engine answers, else processes), made here
        and closed with the session, or the instance given, which its caller closes. `root`: a recorded
        run's, which the backend reaches again (a cluster's namespace and volume claim)."""
        if isinstance(chosen, Backend):
            return chosen
        if root is None:
            made = select_backend(chosen, backend_options=options, notify=notify)
        else:
            made = select_backend_for_root(chosen, root, backend_options=options, notify=notify)
        self._made.append(made)
        return made

    @staticmethod
    def root(backend: Backend, requested: str | Path | None) -> str:
        """A new run's pipeline root on `backend`: the one requested, else the default, as the store
        records it."""
        try:
            return kinds.for_new_run(
                backend, str(requested) if requested is not None else None, layout.default_root()
            )
        except BackendError as exc:
            raise UsageError(str(exc), "--root") from None

    def record(self, record: RunRecord, on_start: Callable[[RunRecord], None] | None = None) -> RunRecord:
        """Record a new run (the store gives its id), then tell `on_start`."""
        self.store.create_run(record)
        self._taken = record
        if on_start is not None:
            on_start(record)
        return record

    def record_new(
        self,
        spec: PipelineSpec,
        runtime: Backend,
        root: str,
        params: Mapping[str, Any],
        on_start: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Record a new run of the whole pipeline `spec` on `runtime`, its root and parameters chosen."""
        record = RunRecord(
            run_id="",  # create_run gives it
            pipeline=spec.name,
            pipeline_file=spec.source,
            backend=runtime.name,
            root=root,
            params=dict(params),
            spec_text=spec.text,
        )
        return self.record(record, on_start)

    def going_on(self, record: RunRecord, on_start: Callable[[RunRecord], None]) -> None:
        """Record a recorded run as going on again, driven by this process's engine, then tell `on_start`
        (its caller learns of it once the store shows it)."""
        self._taken = record
        record.state, record.error, record.finished_at = RunState.RUNNING, "", None
        record.engine_pid, record.engine_host = os.getpid(), socket.gethostname()
        self.store.save_run_progress(record)
        on_start(record)

    @staticmethod
    def check_free(record: RunRecord) -> None:
        """Refuse to go on with a recorded run while the engine that drove it may still be running."""
        if not record.state.finished and engine_alive(record):
            raise UsageError(f"run {record.run_id} is still running ({engine_place(record)})")

    def drive(
        self,
        spec: PipelineSpec,
        backend: Backend,
        record: RunRecord,
        params: Mapping[str, Any],
        input_artifacts: Mapping[str, list[ArtifactRef]] | None = None,
        settings: EngineSettings | None = None,
        *,
        resume: bool = False,
        adopt: bool = False,
    ) -> Engine:
        """Run the engine on the recorded run to its end; the engine, for what it recorded.

        With `resume`, tasks that succeeded are not run again, and what an interrupted engine left running
        in the backend is removed first, so nothing runs twice; with `adopt` as well, the engine takes those
        tasks over instead where the backend can (Backend.adopt) and starts again only what it cannot."""
        settings = settings or EngineSettings()
        self._taken = record
        if resume:
            if not adopt:
                backend.cleanup(RunInfo(run_id=record.run_id, root=record.root))
            record.error, record.finished_at = "", None
        engine = Engine(
            spec,
            backend,
            self.store,
            record,
            root=record.root,
            logs_dir=logs_dir(),
            parallelism=settings.parallelism or os.cpu_count() or 1,
            on_change=settings.on_change,
            on_event=settings.on_event,
            cache=settings.cache,
            task_timeout=settings.task_timeout,
            mock=settings.mock,
            resume=resume,
            adopt=adopt,
            max_parameter_bytes=settings.max_parameter_bytes or load_config().max_parameter_bytes,
        )
        engine.execute(params, input_artifacts)
        return engine

    def fail(self, record: RunRecord, error: str) -> None:
        """Record the run FAILED with `error` (one line)."""
        record.state, record.finished_at = RunState.FAILED, time.time()
        record.error = " ".join(error.split())
        self.store.save_run(record)

    def _end_unfinished(self, record: RunRecord, error: BaseException) -> None:
        """A run left unfinished by `error`: CANCELLED for Ctrl-C, else FAILED; one its engine ended (the
        engine records Ctrl-C during the run itself) is kept as it is."""
        try:
            current = self.store.run(record.run_id)
            if current.state.finished:
                return
            if isinstance(error, KeyboardInterrupt):
                current.state, current.finished_at = RunState.CANCELLED, time.time()
                current.error = "cancelled by the user"
                self.store.save_run(current)
            elif isinstance(error, FlowError):
                self.fail(current, str(error))
            elif isinstance(error, Exception):
                self.fail(current, f"the engine failed: {type(error).__name__}: {error}")
        except StoreError:
            return  # the store the run is in does not answer: the run shows as it is, `flow resume` goes on


def engine_alive(record: RunRecord) -> bool:
    """Whether the engine recorded as driving this run may still be running. One on another machine (a
    store a team shares) cannot be looked at from here, so it counts as alive: a resume from here must not
    run the tasks it drives a second time."""
    pid = record.engine_pid
    if pid is None:
        return False
    if engine_elsewhere(record):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def record_abandoned(store: Store, records: Iterable[RunRecord]) -> None:
    """Record FAILED each of the runs that an engine on this machine left RUNNING when it died (killed, or
    stopped by a full disk before it could record its end), so that every command shows it as it is;
    `flow resume` continues it. A store that cannot be written (read-only) shows the runs as they are."""
    for record in records:
        pid = record.engine_pid
        if record.state != RunState.RUNNING or pid is None or engine_alive(record) or pid == os.getpid():
            continue
        error = (
            f"its engine (process {pid}) stopped before the run ended; `flow resume {record.run_id}` goes on"
        )
        try:
            if store.record_engine_gone(record, error):
                record.state, record.error = RunState.FAILED, error
        except StoreError:
            continue


def engine_elsewhere(record: RunRecord) -> bool:
    """Whether the run's engine was recorded on another machine, where its process cannot be looked at."""
    return bool(record.engine_host) and record.engine_host != socket.gethostname()


def engine_place(record: RunRecord) -> str:
    """Where a run's engine runs, for messages: its process, and its machine when that is another one."""
    place = f"engine process {record.engine_pid}"
    if engine_elsewhere(record):
        place += f" on {record.engine_host}"
    return place
