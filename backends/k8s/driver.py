"""The driver of a detached run: a Kubernetes Job whose pod runs flow's engine in the cluster.

A Job, not a bare pod: the Job controller makes a new driver pod when one is deleted, evicted or drained
away, and the new driver resumes the run from the store. The store's URL (it holds a password) reaches
the driver through a Secret of its own, which the Job owns, so that deleting the Job removes it too.
The manifests are plain dicts, as `kubectl apply` would take them, testable without a cluster.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backends.base import REASON_IMAGE, BackendError, Phase, TemporaryBackendError
from backends.detaching import DetachedEngine
from backends.k8s.errors import NotFound, translated
from backends.k8s.pods import MAIN_CONTAINER, NON_ROOT_ID, ROOT_VOLUME, label_value
from backends.k8s.status import task_status, utc_now
from backends.k8s.volume import LABEL_ROLE
from roots.base import MOUNT_PATH

if TYPE_CHECKING:
    from kubernetes import client

DEFAULT_DRIVER_IMAGE = "flow-local/flow:dev"  # what scripts/build-flow-image.sh builds
DEFAULT_DRIVER_ACCOUNT = "flow-runner"  # deploy/rbac.yaml
# The backend options that name this machine's view of the cluster, which mean nothing in a driver pod.
LOCAL_ONLY_OPTIONS = ("context", "kubeconfig")
LABEL_DRIVER_OF = "flow.driver-of"  # the run a driver pod drives; never flow.run, which cleanup deletes
ROLE_DRIVER = "driver"
STORE_KEY = "FLOW_STORE"
# Where a driver keeps what the engine writes beside the store (task logs): on the run's volume, so that
# `flow logs` on any machine reads them there, and a driver that replaces another finds them.
DRIVER_HOME = f"{MOUNT_PATH}/.flow-driver"
# A driver that fails (not a deleted one: the Job controller replaces those without counting) is made
# again this many times before the Job gives up.
BACKOFF_LIMIT = 6
# Finished Jobs (and their Secrets) go a day later where the cluster runs the TTL controller (1.21+).
FINISHED_TTL_SECONDS = 86400
_GRACE_SECONDS = 5
_GONE_SECONDS = 30.0
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class DriverSpec:
    """One detached run's driver: what it runs and where."""

    run_id: str
    namespace: str
    claim: str  # the run's pipeline root, mounted at /flow
    image: str
    command: tuple[str, ...]  # the `flow driver ...` command line
    pull_policy: str = "IfNotPresent"
    service_account: str = "flow-runner"

    @property
    def name(self) -> str:
        """The Job's and the Secret's name."""
        return driver_name(self.run_id)


def driver_name(run_id: str) -> str:
    return f"flow-driver-{label_value(run_id.lower())}"[:63].rstrip("-")


def driven_by_a_driver(run_id: str, engine_host: str) -> bool:
    """Whether a run's engine host is a driver pod of the run's Job (a pod's host name is the pod's name,
    which the Job controller makes from the Job's): when that Job is gone, so is the driver."""
    return engine_host.startswith(driver_name(run_id) + "-")


def driver_labels(run_id: str) -> dict[str, str]:
    return {LABEL_ROLE: ROLE_DRIVER, LABEL_DRIVER_OF: label_value(run_id), "app.kubernetes.io/name": "flow"}


def job_manifest(spec: DriverSpec) -> dict[str, Any]:
    labels = driver_labels(spec.run_id)
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "command": list(spec.command),
        "env": [
            {"name": STORE_KEY, "valueFrom": {"secretKeyRef": {"name": spec.name, "key": STORE_KEY}}},
            {"name": "FLOW_HOME", "value": DRIVER_HOME},
            {"name": "HOME", "value": "/tmp"},
        ],
        "volumeMounts": [{"name": ROOT_VOLUME, "mountPath": MOUNT_PATH}],
        # A small request so that it schedules; no limit, as the engine's memory grows with the run.
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict[str, Any] = {
        # The Job makes a new pod rather than restarting the container: each driver is its own pod.
        "restartPolicy": "Never",
        "serviceAccountName": spec.service_account,
        "automountServiceAccountToken": True,  # the engine talks to the API as that account
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": _GRACE_SECONDS,
        # The engine needs no root; fsGroup makes the volume writable for it where the volume allows.
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_ID,
            "runAsGroup": NON_ROOT_ID,
            "fsGroup": NON_ROOT_ID,
        },
        "containers": [container],
        "volumes": [{"name": ROOT_VOLUME, "persistentVolumeClaim": {"claimName": spec.claim}}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "ttlSecondsAfterFinished": FINISHED_TTL_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def secret_manifest(spec: DriverSpec, store_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": driver_labels(spec.run_id)},
        "type": "Opaque",
        "stringData": {STORE_KEY: store_url},
    }


def owner_reference(job: Any) -> dict[str, Any]:
    """A reference to the Job (a kubernetes client V1Job) for what should go when it goes."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": job.metadata.name,
        "uid": job.metadata.uid,
        "blockOwnerDeletion": False,
    }


class DriverJobs:
    """The driver Jobs of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        from kubernetes import client

        self.namespace = namespace
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def create(self, spec: DriverSpec, store_url: str) -> None:
        """The Secret first (the pod needs it to start), then the Job, then the Job owns the Secret."""
        with translated(f"creating the Secret {spec.name}"):
            self.core.create_namespaced_secret(self.namespace, secret_manifest(spec, store_url))
        try:
            with translated(f"creating the driver Job {spec.name}"):
                job = self.batch.create_namespaced_job(self.namespace, job_manifest(spec))
            with translated(f"giving the Secret {spec.name} to its Job"):
                self.core.patch_namespaced_secret(
                    spec.name, self.namespace, {"metadata": {"ownerReferences": [owner_reference(job)]}}
                )
        except BaseException:
            # What was made goes, where it can: the error that stopped the start is the one to report.
            with contextlib.suppress(BackendError):
                self.delete(spec.run_id)
            raise

    def read(self, run_id: str) -> Any | None:
        """The run's driver Job (a kubernetes client V1Job), None when it has none."""
        try:
            with translated(f"reading the driver Job of run {run_id}"):
                return self.batch.read_namespaced_job(driver_name(run_id), self.namespace)
        except NotFound:
            return None

    def engine(self, run_id: str) -> DetachedEngine | None:
        """The run's driver as a detached engine; None when it has no Job."""
        job = self.read(run_id)
        if job is None:
            return None
        running = job.status is not None and bool(job.status.active)
        return DetachedEngine(place=f"the cluster (driver Job {driver_name(run_id)})", running=running)

    def pods(self, run_id: str) -> list[Any]:
        selector = f"{LABEL_DRIVER_OF}={label_value(run_id)}"
        with translated(f"listing the driver pods of run {run_id}"):
            return list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def delete(self, run_id: str, wait: bool = False) -> None:
        """Delete the Job, its pods and its Secret; with `wait`, until no driver pod is left."""
        name = driver_name(run_id)
        with contextlib.suppress(NotFound), translated(f"deleting the driver Job {name}"):
            self.batch.delete_namespaced_job(
                name, self.namespace, propagation_policy="Background", grace_period_seconds=0
            )
        with contextlib.suppress(NotFound), translated(f"deleting the Secret {name}"):
            self.core.delete_namespaced_secret(name, self.namespace)
        if not wait:
            return
        for pod in self.pods(run_id):
            with contextlib.suppress(NotFound), translated(f"deleting the driver pod {pod.metadata.name}"):
                self.core.delete_namespaced_pod(pod.metadata.name, self.namespace, grace_period_seconds=0)
        deadline = time.monotonic() + _GONE_SECONDS
        while self.pods(run_id):
            if time.monotonic() > deadline:
                raise TemporaryBackendError(f"the driver pods of run {run_id} are still being deleted")
            time.sleep(_POLL_SECONDS)

    def problem(self, spec: DriverSpec) -> str:
        """Why the run's driver cannot run: its image is missing, or it failed (with the last line it
        wrote); "" while it starts or runs."""
        for pod in self.pods(spec.run_id):
            found = problem_of(pod, spec.image, functools.partial(self._last_line, pod.metadata.name))
            if found:
                return found
        return ""

    def _last_line(self, pod: str) -> str:
        with contextlib.suppress(BackendError), translated(f"reading the log of {pod}"):
            log = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=MAIN_CONTAINER, tail_lines=5
            )
            lines = [line.strip() for line in str(log).splitlines() if line.strip()]
            return lines[-1] if lines else ""
        return ""


def problem_of(pod: Any, image: str, last_line: Callable[[], str]) -> str:
    """Why this driver pod (a kubernetes client V1Pod) cannot run the engine; "" while it starts or runs.
    `last_line()` is the last line the driver wrote, asked for only when it failed."""
    status = task_status(pod, utc_now(), unschedulable_after=float("inf"))
    if status.phase != Phase.FAILED:
        return ""
    if status.reason == REASON_IMAGE:
        return (
            f"the flow image {image!r} cannot run in the cluster ({status.message}): build it "
            "(scripts/build-flow-image.sh) or push it, and name it with --driver-image"
        )
    return f"the driver failed: {last_line() or status.message}"
