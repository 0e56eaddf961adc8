"""Each task as a Kubernetes pod, through the kubernetes client, with the run's volume claim at /flow.

Nothing of Kubeflow is needed: a Kubernetes API, a namespace and a PersistentVolumeClaim. Pod states come
from one watch (backends.k8s.watcher); the engine reaches the volume through a helper pod
(backends.k8s.volume), never by assuming it is on its own machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import (
    REASON_CANCELLED,
    REASON_LOST,
    BackendError,
    BackendUnavailableError,
    PermanentBackendError,
    Phase,
    RunInfo,
    TaskSpec,
    TaskStatus,
    TemporaryBackendError,
)
from backends.detaching import DetachedEngine, Detaching, EngineLaunch
from backends.extras import missing_extra
from backends.k8s.driver import (
    DEFAULT_DRIVER_ACCOUNT,
    DEFAULT_DRIVER_IMAGE,
    LOCAL_ONLY_OPTIONS,
    DriverJobs,
    DriverSpec,
    driven_by_a_driver,
)
from backends.k8s.errors import Conflict, NotFound, translated
from backends.k8s.logs import PodLogFollower
from backends.k8s.pods import (
    IMAGE_PULL_POLICY,
    LABEL_RUN,
    MAIN_CONTAINER,
    PodSettings,
    pod_manifest,
)

# The helper image's default, for those mapping it (--image-map busybox:1.36=...).
from backends.k8s.settings import DEFAULT_FILES_IMAGE as DEFAULT_FILES_IMAGE
from backends.k8s.settings import KubernetesSettings
from backends.k8s.stats import PodStats
from backends.k8s.status import task_status, utc_now
from backends.k8s.volume import HelperPod, VolumeFiles
from backends.k8s.watcher import PodWatcher
from backends.k8s.workspace import ClaimWorkspace, mount
from backends.tracking import Started, TrackingBackend
from backends.workspaces import Workspace, WorkspaceView
from roots.base import Root, TaskView
from roots.kinds import for_new_run, parse
from roots.pvc import ClaimRoot
from roots.s3.pods import StagingSettings
from roots.views import RootViews

if TYPE_CHECKING:
    from kubernetes import client

DEFAULT_CLAIM = "flow-root"
_SYNC_SECONDS = 30.0
_LOG_DRAIN_SECONDS = 2.0
_CLEANUP_SECONDS = 10.0
_GONE_CHECK_SECONDS = 0.2
# A pod the watch has not shown this long after it was created is looked up directly.
_UNSEEN_SECONDS = 30.0
# Past this long without answers from the API, polls fail: the engine retries, then gives the tasks up.
_API_DOWN_SECONDS = 120.0
_RUNNING = TaskStatus(Phase.RUNNING)


@dataclass
class _Pod:
    follower: PodLogFollower
    created: float  # monotonic


class KubernetesBackend(TrackingBackend[_Pod], Detaching):
    name = "k8s"

    Settings = KubernetesSettings

    def __init__(self, **options: Any) -> None:
        """`options`: the fields of KubernetesSettings."""
        missing = missing_extra("kubernetes", "k8s", "the k8s backend")
        if missing:
            raise BackendUnavailableError(missing)
        from kubernetes import client  # here, not where the module loads: `flow --help` reads its Settings

        super().__init__()
        settings = KubernetesSettings(**options)
        self.api, default_namespace = _connect(settings.context, settings.kubeconfig)
        self.namespace = settings.namespace or default_namespace
        self.core = client.CoreV1Api(self.api)
        # kubernetes.stream swaps the request method of the ApiClient it is given for the length of an exec:
        # the volume's execs go through a client of their own, so that the watch, log and stats threads
        # sharing `self.api` never get a websocket in place of their response.
        self._exec_api = client.ApiClient(self.api.configuration)
        with _unavailable_when_unreachable(self.namespace):
            self.core.list_namespaced_pod(self.namespace, limit=1, _request_timeout=15)
        self.claim, self.create_claim = settings.pvc or DEFAULT_CLAIM, settings.pvc is None
        self.storage_class, self.pvc_size = settings.storage_class, settings.pvc_size
        self.image_map = dict(settings.image_map)
        self.keep_failed = settings.keep_failed
        self.unschedulable_timeout = settings.unschedulable_timeout
        self.settings = PodSettings(
            namespace=self.namespace,
            claim=self.claim,
            pull_policy=IMAGE_PULL_POLICY[settings.pull],
            service_account=settings.service_account,
            run_as_non_root=settings.run_as_non_root,
        )
        self.watcher = PodWatcher(self.core, self.namespace, self.changed)
        self.stats = PodStats(self.core, self.namespace)
        files_image = self.image_map.get(settings.files_image, settings.files_image)
        self.helper = HelperPod(self.core, self.settings, files_image)
        self.staging = StagingSettings.from_environment(
            self.image_map.get(settings.staging_image, settings.staging_image),
            files_image,
            settings.s3_secret,
        )
        self._claim_checked = False
        self.roots = RootViews(lambda root: root.in_pods(self.name, self))

    # -- the root ---------------------------------------------------------------------------------

    def default_root(self, folder: Path) -> str:
        return f"pvc://{self.namespace}/{self.claim}"

    def root_view(self, root: Root) -> TaskView:
        return self.roots.of(root)

    def volume_files(self, helper: HelperPod) -> VolumeFiles:
        """A volume's files through its helper pod, over a connection of their own (see __init__)."""
        from kubernetes import client

        return VolumeFiles(client.CoreV1Api(self._exec_api), helper)

    def prepare(self, run: RunInfo) -> None:
        self.roots.prepare(run)
        if not self.watcher.wait_synced(_SYNC_SECONDS):
            raise TemporaryBackendError(
                f"cannot watch pods in {self.namespace}: {self.watcher.error}", delay=5.0
            )

    def workspace_view(self, workspace: Workspace) -> WorkspaceView:
        return ClaimWorkspace(workspace, self)

    def ensure_claim(self) -> None:
        """Make the root's volume claim where it is missing and flow may make it; once per backend."""
        if self._claim_checked:
            return
        try:
            with translated(f"looking up the volume claim {self.claim!r} in {self.namespace}"):
                self.core.read_namespaced_persistent_volume_claim(self.claim, self.namespace)
        except NotFound:
            if not self.create_claim:
                raise PermanentBackendError(
                    f"the volume claim {self.claim!r} does not exist in namespace {self.namespace}"
                ) from None
            self._create_claim()
        self._claim_checked = True

    def _create_claim(self) -> None:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": self.pvc_size}},
        }
        if self.storage_class is not None:
            spec["storageClassName"] = self.storage_class
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": self.claim},
            "spec": spec,
        }
        with contextlib.suppress(Conflict), translated(f"creating the volume claim {self.claim!r}"):
            self.core.create_namespaced_persistent_volume_claim(self.namespace, body)

    # -- submit, poll -----------------------------------------------------------------------------

    def start(self, task: TaskSpec) -> _Pod:
        image = self.image_map.get(task.image, task.image)
        manifest = pod_manifest(task, image, self.settings)
        self.roots.of_run(task.run_id).add_to_pod(manifest, task)
        if task.workspace is not None:
            mount(manifest, task.workspace)
        self.watcher.forget(task.name)  # an earlier pod of this name may have been seen, and deleted
        try:
            with translated(f"creating pod {task.name}"):
                self.core.create_namespaced_pod(self.namespace, manifest)
        except Conflict:
            # A pod of this name is left from an engine that died: it is not ours to adopt.
            self._delete_and_wait(task.name)
            with translated(f"creating pod {task.name}"):
                self.core.create_namespaced_pod(self.namespace, manifest)
        return self._pod(task)

    def find(self, task: TaskSpec) -> _Pod | None:
        """The pod of `task` that an engine which stopped (a replaced driver) left, when it is there and not
        being deleted; its log is copied again from the start."""
        pod = self.watcher.get(task.name)
        if pod is None or self.watcher.was_deleted(task.name) or pod.metadata.deletion_timestamp:
            return None
        log_path = Path(task.log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch(mode=0o600)  # only its owner reads it, as the store
        log_path.write_bytes(b"")  # the follower copies the container's whole log, from its first line
        return self._pod(task)

    def _pod(self, task: TaskSpec) -> _Pod:
        follower = PodLogFollower(
            self.core,
            self.namespace,
            task.name,
            Path(task.log_path),
            started=lambda: self._container_started(task.name),
            on_done=self.changed,
        )
        return _Pod(follower, time.monotonic())

    def log_source(self, task: TaskSpec, runtime: _Pod) -> PodLogFollower:
        return runtime.follower

    def _container_started(self, name: str) -> bool | None:
        """Whether the pod's container has started; None once it never will (the pod failed or is gone)."""
        tracked = self.task(name)
        status = tracked.status if tracked is not None else None
        if status is not None and status.phase == Phase.FAILED and status.reason != REASON_CANCELLED:
            return None
        if self.watcher.was_deleted(name):
            return None
        pod = self.watcher.get(name)
        if pod is None or pod.status is None:
            return False
        for container in pod.status.container_statuses or []:
            state = container.state if container.name == MAIN_CONTAINER else None
            if state is not None and (state.running is not None or state.terminated is not None):
                return True
        return False

    def state(self, tasks: Sequence[Started[_Pod]]) -> dict[str, TaskStatus]:
        if self.watcher.error and (
            not self.watcher.wait_synced(0) or self.watcher.down_for() > _API_DOWN_SECONDS
        ):
            raise TemporaryBackendError(self.watcher.error, delay=2.0)
        now = utc_now()
        result: dict[str, TaskStatus] = {}
        for task in tasks:
            status = self._status(task, now)
            if status is not None:
                self._keep_log(task.runtime.follower)
            result[task.name] = status or _RUNNING
        return result

    def _status(self, task: Started[_Pod], now: Any) -> TaskStatus | None:
        """The pod's final status once it finished, else None."""
        name, tracked = task.name, task.runtime
        if self.watcher.was_deleted(name):
            return TaskStatus(
                Phase.FAILED, reason=REASON_LOST, message="the pod was deleted from outside flow"
            )
        pod = self.watcher.get(name)
        if pod is None and time.monotonic() - tracked.created > _UNSEEN_SECONDS:
            try:
                with translated(f"reading pod {name}"):
                    pod = self.core.read_namespaced_pod(name, self.namespace)
            except NotFound:
                return TaskStatus(Phase.FAILED, reason=REASON_LOST, message="the pod disappeared")
        if pod is None:
            return None
        status = task_status(pod, now, self.unschedulable_timeout)
        node = pod.spec.node_name if pod.spec is not None else None
        if not status.phase.finished:
            if node:
                self.stats.track(name, node)
            return None
        if status.phase == Phase.SUCCEEDED or pod.status.phase in ("Succeeded", "Failed"):
            tracked.follower.wait(_LOG_DRAIN_SECONDS)
        usage = self.stats.finish(name, node)
        return dataclasses.replace(
            status, peak_memory_bytes=usage.peak_memory_bytes, cpu_seconds=usage.cpu_seconds
        )

    @staticmethod
    def _keep_log(follower: PodLogFollower) -> None:
        """Keep the whole log of a finished pod: fetched again where following it broke."""
        follower.stop()
        if not follower.complete:
            with contextlib.suppress(Exception):  # a pod that never started has no log to fetch
                follower.refetch()

    def remove(self, task: Started[_Pod]) -> None:
        self._delete(task.name)

    # -- stop, cleanup -----------------------------------------------------------------------------

    def stop(self, task: Started[_Pod]) -> None:
        self._delete(task.name, grace=self.settings.grace_seconds)
        task.removed = True
        task.runtime.follower.wait(self.settings.grace_seconds + _LOG_DRAIN_SECONDS)
        task.runtime.follower.stop()

    def remove_run(self, run: RunInfo, keep_failed: bool) -> bool:
        selector = f"{LABEL_RUN}={run.run_id}"
        fields = "status.phase!=Failed" if keep_failed else None
        with translated(f"deleting the pods of run {run.run_id}"):
            self.core.delete_collection_namespaced_pod(
                self.namespace, label_selector=selector, field_selector=fields, grace_period_seconds=0
            )
        with translated(f"listing the pods of run {run.run_id}"):
            left = self.core.list_namespaced_pod(
                self.namespace, label_selector=selector, field_selector=fields
            )
        for task in self.tracked(run.run_id):
            self.watcher.forget(task.name)
        if not left.items:
            self.roots.cleanup(run)
        return bool(left.items)

    def _delete(self, name: str, grace: int = 0) -> None:
        with contextlib.suppress(NotFound), translated(f"deleting pod {name}"):
            self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=grace)

    def _delete_and_wait(self, name: str) -> None:
        from kubernetes import client

        self._delete(name)
        deadline = time.monotonic() + _CLEANUP_SECONDS
        while time.monotonic() < deadline:
            try:
                self.core.read_namespaced_pod(name, self.namespace)
            except client.exceptions.ApiException as exc:
                if exc.status == 404:
                    return
            time.sleep(_GONE_CHECK_SECONDS)
        raise TemporaryBackendError(f"pod {name} left by an earlier engine is still being deleted", delay=2.0)

    # -- detached runs: the engine as a driver Job (backends.k8s.driver) -----------------------------

    @classmethod
    def check_detached_root(cls, requested: str) -> None:
        try:
            ClaimRoot.parse(requested)
        except BackendError:
            # The driver mounts the claim and keeps the logs on it; it has no S3 credentials.
            raise PermanentBackendError(
                f"a detached run keeps its root on the cluster's volume claim (pvc://NAMESPACE/CLAIM), "
                f"not {requested}"
            ) from None

    @classmethod
    def engine_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k not in LOCAL_ONLY_OPTIONS}

    def detached_root(self, requested: str | None, default: Path) -> str:
        root = for_new_run(self, requested, default)
        self.root_view(parse(root)).prepare()  # the claim exists before the driver mounts it
        return root

    def start_engine(self, launch: EngineLaunch) -> None:
        DriverJobs(self.api, self.namespace).create(self._driver(launch), launch.store_url)

    def engine_problem(self, launch: EngineLaunch) -> str:
        return DriverJobs(self.api, self.namespace).problem(self._driver(launch))

    def detached_engine(self, run_id: str) -> DetachedEngine | None:
        return DriverJobs(self.api, self.namespace).engine(run_id)

    def remove_engine(self, run_id: str) -> None:
        DriverJobs(self.api, self.namespace).delete(run_id, wait=True)

    @classmethod
    def ran_engine(cls, run_id: str, engine_host: str) -> bool:
        return driven_by_a_driver(run_id, engine_host)

    def _driver(self, launch: EngineLaunch) -> DriverSpec:
        image = launch.image or DEFAULT_DRIVER_IMAGE
        return DriverSpec(
            run_id=launch.run_id,
            namespace=self.namespace,
            claim=self.claim,
            image=self.image_map.get(image, image),
            command=launch.command,
            pull_policy=self.settings.pull_policy,
            service_account=launch.account or DEFAULT_DRIVER_ACCOUNT,
        )

    def close(self) -> None:
        # The claim's helper pod stays for the next engine; it ends itself once idle.
        super().close()
        self.watcher.stop()
        self.stats.stop()
        self._exec_api.close()
        self.api.close()


def _connect(context: str | None, kubeconfig: str | None) -> tuple[client.ApiClient, str]:
    """An API client from the kubeconfig kubectl would use (or the pod's own account inside a cluster),
    and the namespace that configuration names."""
    from kubernetes import client, config

    if not kubeconfig:
        # The client reads $KUBECONFIG once, when it is imported; read it now, as kubectl would.
        from_env = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        if any(Path(p).expanduser().exists() for p in from_env):
            kubeconfig = os.pathsep.join(from_env)
    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, FileNotFoundError, TypeError):
        contexts, active = [], None
    if contexts or kubeconfig:
        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, FileNotFoundError) as exc:
            raise BackendUnavailableError(f"cannot use the kubeconfig: {exc}") from exc
        chosen = next((c for c in contexts if c["name"] == context), active) if context else active
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
        return api, namespace
    try:
        config.load_incluster_config()
    except config.ConfigException as exc:
        raise BackendUnavailableError(
            "no cluster: no kubeconfig ($KUBECONFIG or ~/.kube/config) and not inside a pod"
        ) from exc
    namespace_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else "default"
    return client.ApiClient(), namespace


@contextlib.contextmanager
def _unavailable_when_unreachable(namespace: str) -> Iterator[None]:
    """Turn a first contact that fails into BackendUnavailableError: flow cannot run anything there."""
    try:
        with translated(f"reaching the cluster (namespace {namespace})"):
            yield
    except BackendError as exc:
        if isinstance(exc, BackendUnavailableError):
            raise
        raise BackendUnavailableError(str(exc)) from exc
