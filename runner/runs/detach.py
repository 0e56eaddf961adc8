"""Detached runs (`flow run --detach`): the run is recorded in a store the backend reaches too, and a
backend that can (backends.detaching: the k8s backend, as a driver Job) runs its engine beside its tasks,
so the machine that started it may go away.

The engine there is `flow driver RUN` (`drive` here) in the flow image. Everything else reads the shared
store, as for any run: `flow runs`, `flow show`, `flow logs` (the driver keeps task logs on the run's
volume), `flow ui`. `flow cancel` asks the driver to stop through the store, then removes it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendError
from backends.detaching import Detaching, EngineLaunch
from runner import api, layout
from runner.config import load_config
from runner.engine.journal import ChangeListener
from runner.errors import BackendNotFoundError, UsageError
from runner.plugins import backend_class
from runner.runs.cancel import cancel_orphaned
from runner.runs.runsession import RunSession
from runner.selection import CLUSTER
from runner.spec import PipelineSpec
from runner.spec import parameters as pipeline_params
from runner.store import RunRecord, RunState, Store
from runner.store.url import POSTGRES_SCHEMES

WHERE = "flow run --detach"
# How long `flow run --detach` waits for the driver's engine to take the run up: long enough to tell a
# missing image or an unreachable store from a slow start.
_START_SECONDS = 60.0
_START_POLL_SECONDS = 0.25
_CANCEL_SECONDS = 30.0
_CANCEL_POLL_SECONDS = 0.2
# The backend stops a driver (a pod deleted, evicted, its node drained) only to replace it: it exits at
# once, leaving the run's tasks and records for the next driver, where Ctrl-C on `flow run` cancels.
EXIT_REPLACED = 143


@dataclass(frozen=True)
class DriverOptions:
    """What the driver is, and how its engine runs the pipeline."""

    image: str | None = None  # the flow image; None: the backend's default
    service_account: str | None = None  # None: the backend's default
    parallelism: int | None = None
    cache: bool = True
    task_timeout: float | None = None


def detaching(backend: str) -> type[Detaching] | None:
    """The class of the backend `backend` when it can run detached runs, else None."""
    try:
        found = backend_class(backend)
    except BackendNotFoundError:
        return None
    return found if issubclass(found, Detaching) else None


def shared_store_url() -> str:
    """FLOW_STORE, when it is a store both this machine and the cluster's pods can reach."""
    url = os.environ.get("FLOW_STORE", "")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise UsageError(
            "a detached run needs a store the cluster reaches too: set FLOW_STORE=postgresql://USER:"
            "PASSWORD@HOST/DATABASE (the default store is a file on this machine)",
            WHERE,
        )
    host = parts.hostname or ""
    if not host or host == "localhost" or _is_loopback(host):
        raise UsageError(
            f"FLOW_STORE names the host {host or '(a local socket)'!r}, which is not this machine inside "
            "a pod: give an address both this machine and the cluster's pods reach",
            WHERE,
        )
    return url


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def submit(
    pipeline: str | Path | PipelineSpec,
    *,
    backend: str = CLUSTER,
    params: Mapping[str, Any],
    params_as_text: bool = False,
    root: str | None = None,
    backend_options: Mapping[str, Any] | None = None,
    driver: DriverOptions | None = None,
) -> RunRecord:
    """Record a new run and start its driver on `backend`; return once the driver's engine runs it.

    Bad input (no shared store, a backend that cannot detach, a driver image the cluster does not have, a
    store the driver cannot reach) raises a UsageError, records the run as failed and leaves nothing
    running.
    """
    url = shared_store_url()
    kind = detaching(backend)
    if kind is None:
        raise UsageError(f"the {backend} backend cannot run a run's engine itself", WHERE)
    if root is not None:
        try:
            kind.check_detached_root(root)
        except BackendError as exc:
            raise UsageError(str(exc), "--root") from None
    driver = driver or DriverOptions()
    spec = api.load_pipeline(pipeline)
    values = pipeline_params.bind(spec, params, as_text=params_as_text)
    options = dict(backend_options or {})
    with RunSession() as session:
        runtime = session.backend(backend, options=options)
        assert isinstance(runtime, Detaching)
        try:
            root_text = runtime.detached_root(root, layout.default_root())
        except BackendError as exc:
            raise UsageError(str(exc), "--root") from None
        record = session.record_new(spec, runtime, root_text, values)
        launch = EngineLaunch(
            run_id=record.run_id,
            root=root_text,
            command=driver_command(record.run_id, options, driver, backend),
            store_url=url,
            image=driver.image,
            account=driver.service_account,
        )
        try:
            runtime.start_engine(launch)
            problem = _wait_for_engine(session.store, runtime, launch)
            if problem:
                runtime.remove_engine(record.run_id)
        except BackendError as exc:
            session.fail(record, f"cannot start the driver: {exc}")
            raise UsageError(f"cannot start the driver of run {record.run_id}: {exc}", WHERE) from None
        if problem:
            session.fail(record, problem)
            raise UsageError(f"run {record.run_id}: {problem}", WHERE)
        return record


def _wait_for_engine(store: Store, backend: Detaching, launch: EngineLaunch) -> str:
    """Wait until the driver's engine has taken the run up (so it reaches the store and the backend from
    where it runs); why it never will, or "" (also when it is still starting after a while: it may be
    waiting for a node, and the run is recorded)."""
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if store.run_state(launch.run_id) != RunState.PENDING:
            return ""
        problem = backend.engine_problem(launch)
        if problem:
            return problem
        time.sleep(_START_POLL_SECONDS)
    return ""


def driver_command(
    run_id: str, backend_options: Mapping[str, Any], driver: DriverOptions, backend: str = CLUSTER
) -> tuple[str, ...]:
    """The driver's command line on `backend`: `flow driver RUN --settings JSON` (no secret in it: the
    store's URL reaches the driver as a secret of the backend's)."""
    kind = detaching(backend)
    assert kind is not None, f"the {backend} backend cannot run a run's engine itself"
    settings = {
        "backend": kind.engine_options(backend_options),
        "parallelism": driver.parallelism,
        "cache": driver.cache,
        "task_timeout": driver.task_timeout,
        # flow.yaml is read here: the driver has none.
        "max_parameter_bytes": load_config().max_parameter_bytes,
    }
    return ("flow", "driver", run_id, "--settings", json.dumps(settings, sort_keys=True))


def cancel(store: Store, record: RunRecord) -> bool:
    """Cancel a detached run: ask its driver through the store to stop the tasks and record the run
    CANCELLED, then remove the driver; where the driver does not answer in time, do its part here.
    False when the run never had a driver (it is not detached) or its backend does not answer."""
    kind = detaching(record.backend)
    if kind is None:
        return False
    with RunSession(store) as session:
        try:
            backend = session.backend(record.backend, root=record.root)
        except UsageError:
            return False
        assert isinstance(backend, Detaching)
        if backend.detached_engine(record.run_id) is not None:
            store.request_cancel(record.run_id)
            deadline = time.monotonic() + _CANCEL_SECONDS
            while time.monotonic() < deadline and not store.run_state(record.run_id).finished:
                time.sleep(_CANCEL_POLL_SECONDS)
            backend.remove_engine(record.run_id)
        elif not kind.ran_engine(record.run_id, record.engine_host):
            return False
    current = store.run(record.run_id)
    if not current.state.finished:
        cancel_orphaned(store, current)
    return True


def take_back(store: Store, record: RunRecord) -> None:
    """Before `flow resume` runs the rest of a detached run on this machine: refuse while its driver runs
    it; else remove the driver, so that none comes back, and forget the driver's process (not one of this
    machine), also when the driver was removed by hand. A run that never had a driver is left as it is."""
    kind = detaching(record.backend)
    if kind is None or record.state.finished:
        return
    with RunSession(store) as session:
        try:
            backend = session.backend(record.backend, root=record.root)
        except UsageError:
            # The backend does not answer: nothing of a driver can be checked, the resume says what it finds.
            return
        assert isinstance(backend, Detaching)
        engine = backend.detached_engine(record.run_id)
        if engine is not None:
            if engine.running:
                raise UsageError(
                    f"run {record.run_id} runs in {engine.place}: flow show and flow logs follow it, "
                    "flow cancel stops it",
                    "flow resume",
                )
            backend.remove_engine(record.run_id)
        elif not kind.ran_engine(record.run_id, record.engine_host):
            return
    record.engine_pid, record.engine_host = None, ""
    store.save_run_progress(record)


def _exit_for_replacement(signum: int, frame: object) -> None:
    os._exit(EXIT_REPLACED)


def drive(
    run_id: str,
    settings: Mapping[str, Any],
    on_change: ChangeListener | None = None,
    notify: Callable[[str], None] | None = None,
) -> RunState:
    """What `flow driver RUN` does where the backend runs it: run (or go on with) the detached run
    `run_id` to its end; its state then.

    Every driver, the first or one that replaced another, resumes the run from the shared store, so tasks
    that succeeded are never run again, and takes over the tasks the last one started. `settings` as
    `driver_command` wrote them. A run already finished is left as it is (the backend may start a driver
    again after the last one recorded the end), and a run `flow cancel` asked to stop while no driver ran
    is cancelled here.
    """
    signal.signal(signal.SIGTERM, _exit_for_replacement)
    say = notify or (lambda message: None)
    with api.open_store() as store:
        record = store.run(run_id)
        if record.state.finished:
            say(f"run {run_id} already finished: {record.state.value}")
            return record.state
        if record.state == RunState.CANCELLING:
            cancel_orphaned(store, record)
            say(f"run {run_id} cancelled before this driver started")
            return RunState.CANCELLED
        kind = detaching(record.backend)
        if kind is not None and kind.ran_engine(run_id, record.engine_host):
            # The last engine was a driver of this run: the backend starts another only once that one was
            # removed or failed, and a removed driver exits at once on SIGTERM.
            record.engine_pid, record.engine_host = None, ""
            store.save_run_progress(record)
        say(f"driving run {run_id} ({record.state.value})")
        result = api.resume(
            run_id,
            store=store,
            parallelism=settings.get("parallelism"),
            on_change=on_change,
            backend_options=settings.get("backend") or {},
            notify=say,
            cache=bool(settings.get("cache", True)),
            task_timeout=settings.get("task_timeout"),
            max_parameter_bytes=settings.get("max_parameter_bytes"),
            adopt=True,  # the tasks the last driver started go on: this one takes them over
        )
        return result.state
