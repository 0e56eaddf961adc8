"""Detached runs (`flow run --cluster --detach`): the run is recorded in the shared store and its engine
runs in the cluster as a driver Job, so the machine that started it may go away.

The driver is `flow driver RUN` (runner.driver) in the flow image. Everything else reads the shared
store, as for any run: `flow runs`, `flow show`, `flow logs` (the driver keeps task logs on the run's
volume), `flow ui`. `flow cancel` asks the driver to stop through the store, then removes the Job.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import BackendError, is_s3_root
from runner import api, artifacts
from runner import params as pipeline_params
from runner.config import load_config
from runner.errors import UsageError
from runner.selection import CLUSTER, select_backend, select_backend_for_root
from runner.spec import PipelineSpec
from runner.store import RunRecord, RunState, Store
from runner.store.url import POSTGRES_SCHEMES

if TYPE_CHECKING:
    from backends.k8s.driver import DriverJobs, DriverSpec

DEFAULT_DRIVER_IMAGE = "flow-local/flow:dev"  # what scripts/build-flow-image.sh builds
DEFAULT_DRIVER_ACCOUNT = "flow-runner"  # deploy/rbac.yaml
WHERE = "flow run --detach"
# How long `flow run --detach` waits for the driver's engine to take the run up: long enough to tell a
# missing image or an unreachable store from a slow start.
_START_SECONDS = 60.0
_START_POLL_SECONDS = 0.25
_CANCEL_SECONDS = 30.0
_CANCEL_POLL_SECONDS = 0.2
# The options of a cluster backend that name this machine's view of the cluster, not the run's.
_LOCAL_ONLY_OPTIONS = ("context", "kubeconfig")


@dataclass(frozen=True)
class DriverOptions:
    """What the driver is, and how its engine runs the pipeline."""

    image: str = DEFAULT_DRIVER_IMAGE
    service_account: str = DEFAULT_DRIVER_ACCOUNT
    parallelism: int | None = None
    cache: bool = True
    task_timeout: float | None = None


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
    params: Mapping[str, Any],
    params_as_text: bool = False,
    root: str | None = None,
    backend_options: Mapping[str, Any] | None = None,
    driver: DriverOptions | None = None,
) -> RunRecord:
    """Record a new run and start its driver in the cluster; return once the driver's engine runs it.

    Bad input (no shared store, a driver image the cluster does not have, a store the driver cannot
    reach) raises a UsageError, records the run as failed and leaves nothing running.
    """
    from backends.k8s import KubernetesBackend
    from backends.k8s.driver import DriverJobs, DriverSpec

    url = shared_store_url()
    if root is not None and is_s3_root(root):
        # The driver would need the S3 credentials as well as the tasks; it keeps the logs on the claim.
        raise UsageError("a detached run keeps its root on the cluster's volume claim, not in S3", "--root")
    driver = driver or DriverOptions()
    spec = api.load_pipeline(pipeline)
    values = pipeline_params.bind(spec, params, as_text=params_as_text)
    options = dict(backend_options or {})
    backend = select_backend(CLUSTER, backend_options=options)
    if not isinstance(backend, KubernetesBackend):
        backend.close()
        raise UsageError(f"--detach runs on a Kubernetes cluster, not on {backend.name}", WHERE)
    try:
        try:
            root_text = backend.pipeline_root(root, artifacts.default_root())
            backend.files(root_text)  # the claim exists before the driver mounts it
        except BackendError as exc:
            raise UsageError(str(exc), "--root") from None
        with api.open_store() as store:
            record = RunRecord(
                run_id="",
                pipeline=spec.name,
                pipeline_file=spec.source,
                backend=backend.name,
                root=root_text,
                params=values,
                spec_text=spec.text,
            )
            store.create_run(record)
            job = DriverSpec(
                run_id=record.run_id,
                namespace=backend.namespace,
                claim=backend.claim,
                image=backend.image_map.get(driver.image, driver.image),
                command=driver_command(record.run_id, options, driver),
                pull_policy=backend.settings.pull_policy,
                service_account=driver.service_account,
            )
            jobs = DriverJobs(backend.api, backend.namespace)
            try:
                jobs.create(job, url)
                problem = _wait_for_engine(store, jobs, job)
                if problem:
                    jobs.delete(record.run_id, wait=True)
            except BackendError as exc:
                _failed(store, record, f"cannot start the driver: {exc}")
                raise UsageError(f"cannot start the driver of run {record.run_id}: {exc}", WHERE) from None
            if problem:
                _failed(store, record, problem)
                raise UsageError(f"run {record.run_id}: {problem}", WHERE)
            return record
    finally:
        backend.close()


def _wait_for_engine(store: Store, jobs: DriverJobs, job: DriverSpec) -> str:
    """Wait until the driver's engine has taken the run up (so it reaches the store and the cluster from
    inside); why it never will, or "" (also when it is still starting after a while: it may be waiting
    for a node, and the run is recorded)."""
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if store.run_state(job.run_id) != RunState.PENDING:
            return ""
        problem = jobs.problem(job)
        if problem:
            return problem
        time.sleep(_START_POLL_SECONDS)
    return ""


def driver_command(run_id: str, backend_options: Mapping[str, Any], driver: DriverOptions) -> tuple[str, ...]:
    """The driver's command line: `flow driver RUN --settings JSON` (no secret in it: the store's URL
    reaches the driver through its Secret)."""
    settings = {
        "backend": {k: v for k, v in backend_options.items() if k not in _LOCAL_ONLY_OPTIONS},
        "parallelism": driver.parallelism,
        "cache": driver.cache,
        "task_timeout": driver.task_timeout,
        # flow.yaml is read here: the driver's pod has none.
        "max_parameter_bytes": load_config().max_parameter_bytes,
    }
    return ("flow", "driver", run_id, "--settings", json.dumps(settings, sort_keys=True))


def _failed(store: Store, record: RunRecord, error: str) -> None:
    record.state, record.error, record.finished_at = RunState.FAILED, error, time.time()
    store.save_run(record)


def cancel(store: Store, record: RunRecord) -> bool:
    """Cancel a detached run: ask its driver through the store to stop the tasks and record the run
    CANCELLED, then remove the driver; where the driver does not answer in time, do its part here.
    False when the run never had a driver (it is not detached) or its cluster does not answer."""
    from backends.k8s import KubernetesBackend
    from backends.k8s.driver import DriverJobs
    from runner.cancel import cancel_orphaned

    if record.backend != CLUSTER:
        return False
    try:
        backend = select_backend_for_root(record.backend, record.root)
    except UsageError:
        return False
    try:
        assert isinstance(backend, KubernetesBackend)
        jobs = DriverJobs(backend.api, backend.namespace)
        if jobs.exists(record.run_id):
            store.request_cancel(record.run_id)
            deadline = time.monotonic() + _CANCEL_SECONDS
            while time.monotonic() < deadline and not store.run_state(record.run_id).finished:
                time.sleep(_CANCEL_POLL_SECONDS)
            jobs.delete(record.run_id, wait=True)
        elif not driven_by_a_driver(record):
            return False
    finally:
        backend.close()
    current = store.run(record.run_id)
    if not current.state.finished:
        cancel_orphaned(store, current)
    return True


def take_back(store: Store, record: RunRecord) -> None:
    """Before `flow resume` runs the rest of a detached run on this machine: refuse while its driver runs
    it in the cluster; else remove the driver's Job, so that no driver comes back, and forget the driver's
    process (one of its pod, not of this machine), also when the Job was deleted by hand. A run that never
    had a driver is left as it is."""
    from backends.k8s import KubernetesBackend
    from backends.k8s.driver import DriverJobs, driver_name

    if record.backend != CLUSTER or record.state.finished:
        return
    try:
        backend = select_backend_for_root(record.backend, record.root)
    except UsageError:
        return  # no cluster answers: nothing of a driver can be checked, the resume says what it finds
    try:
        assert isinstance(backend, KubernetesBackend)
        jobs = DriverJobs(backend.api, backend.namespace)
        job = jobs.read(record.run_id)
        if job is not None:
            if job.status is not None and job.status.active:
                raise UsageError(
                    f"run {record.run_id} runs in the cluster (driver Job {driver_name(record.run_id)}): "
                    "flow show and flow logs follow it, flow cancel stops it",
                    "flow resume",
                )
            jobs.delete(record.run_id, wait=True)
        elif not driven_by_a_driver(record):
            return
    finally:
        backend.close()
    record.engine_pid, record.engine_host = None, ""
    store.save_run_progress(record)


def driven_by_a_driver(record: RunRecord) -> bool:
    """Whether the run's engine was last in a driver pod of the run's Job (a pod's host name is the pod's
    name, which the Job controller makes from the Job's): when that Job is gone, so is the driver."""
    from backends.k8s.driver import driver_name

    return record.engine_host.startswith(driver_name(record.run_id) + "-")
