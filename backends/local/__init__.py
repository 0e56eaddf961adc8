"""Each task as a Docker container, through the Docker SDK, with the pipeline root bind-mounted at /flow.

Per task, Docker is asked to create, start, inspect once it exited, give its output and remove it; exits
come from one events stream for all tasks (backends.local.exits), resource use from the task's cgroup
(backends.local.cgroups), and a task's output is followed live only once it has run a while.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import (
    HOST_FILES_MOUNTED,
    REASON_ERROR,
    REASON_IMAGE,
    REASON_LOST,
    REASON_OOM,
    BackendError,
    PermanentBackendError,
    Phase,
    RunInfo,
    TaskSpec,
    TaskStatus,
    TemporaryBackendError,
)
from backends.local.cgroups import TaskCgroups
from backends.local.errors import translated
from backends.local.exits import ExitWatcher
from backends.local.logs import LogFollower
from backends.local.stats import StatsSampler
from backends.settings import ContainerSettings
from backends.tracking import Started, TrackingBackend
from backends.workspaces import WORKSPACE_PATH, FolderWorkspace, Workspace, WorkspaceView
from roots.base import Root, TaskView
from roots.files import staging_base
from roots.views import RootViews

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

LABEL_RUN, LABEL_MANAGED = "flow.run", "flow.managed"
_STOP_GRACE_SECONDS = 3
# After the container exits, its log copy finishes within moments; poll again rather than block longer.
_LOG_DRAIN_SECONDS = 0.05
_EXIT_RECHECK_SECONDS = 0.01
# A task's output is followed into its log file once it ran this long, for `flow logs -f` and the UI; a
# shorter task's is read once it exited, without a connection held meanwhile.
_FOLLOW_AFTER_SECONDS = 1.0
_SETTLE_SECONDS = 0.5
_RUNNING, _PENDING = TaskStatus(Phase.RUNNING), TaskStatus(Phase.PENDING)
# Calls to the daemon at once beside the engine; a small machine's daemon gains nothing from more.
_CALLS_AT_ONCE = 4
_START_ATTEMPTS = 3
NON_ROOT_USER = "65534:65534"  # "nobody": who tasks run as with run_as_non_root
# Task folders are made by flow (often root) but written by tasks running as nobody.
_NON_ROOT_TASK_FOLDER_MODE = 0o777


@dataclass
class _Container:
    container_id: str
    log: LogFollower  # started once the task ran a while, else its output is copied when it exited
    started_at: float  # time.monotonic()
    seen_running: int | None  # the exit watcher's epoch in which it was last known to run
    # Its start, in a thread; then what samples its resource use where its cgroup cannot be read from here.
    starting: Future[StatsSampler | None]
    exit_state: dict[str, Any] | None = None  # Docker's State once it exited, while its log is copied


class DockerBackend(TrackingBackend[_Container]):
    name = "docker"
    host_files = HOST_FILES_MOUNTED

    Settings = ContainerSettings

    def __init__(self, client: docker.DockerClient | None = None, **options: Any) -> None:
        """`options`: the fields of ContainerSettings; `client`: the Docker client to use, else one from the
        environment."""
        import docker  # here, not where the module loads: `flow --help` reads the Settings of every backend

        super().__init__()
        settings = ContainerSettings(**options)
        self.image_map = dict(settings.image_map)
        self.pull = settings.pull
        self.keep_failed = settings.keep_failed
        self.run_as_non_root = settings.run_as_non_root
        with translated("connecting to Docker"):
            self.client = client or docker.from_env(timeout=60)
            self.client.ping()
            info = self.client.info()
        self.has_gpu_runtime = "nvidia" in (info.get("Runtimes") or {})
        self.cgroups = TaskCgroups.of(info)
        self._exit_watcher: ExitWatcher | None = None
        # Calls the engine need not wait for (starting a container, removing one) go on beside it.
        self._beside = ThreadPoolExecutor(_CALLS_AT_ONCE, thread_name_prefix="flow-docker")
        self._removals: list[Future[None]] = []
        self._removals_lock = threading.Lock()
        self._checked_images: set[str] = set()
        self._submitting: set[str] = set()
        # Files staged out of a root go to a folder per task in the user's folder for Docker's tasks.
        mode = _NON_ROOT_TASK_FOLDER_MODE if self.run_as_non_root else None
        self.roots = RootViews(lambda root: root.in_containers(self.name, staging_base() / "docker", mode))

    @classmethod
    def available(cls) -> bool:
        """Whether a Docker engine answers, without raising."""
        import docker

        try:
            client = docker.from_env(timeout=5)
            client.ping()
            client.close()
        except Exception:  # any failure means "no usable engine"
            return False
        return True

    def root_view(self, root: Root) -> TaskView:
        return self.roots.of(root)

    def workspace_view(self, workspace: Workspace) -> WorkspaceView:
        # Tasks that run as nobody write into it; the folder is inside the user's own FLOW_HOME.
        return FolderWorkspace(
            workspace, folder_mode=_NON_ROOT_TASK_FOLDER_MODE if self.run_as_non_root else None
        )

    def prepare(self, run: RunInfo) -> None:
        self.roots.prepare(run)

    # -- submit -----------------------------------------------------------------------------------

    @property
    def exits(self) -> ExitWatcher:
        """The stream of the tasks' exits, connected when the first task starts."""
        if self._exit_watcher is None:
            self._exit_watcher = ExitWatcher(self.client.api, f"{LABEL_MANAGED}=1", self.changed)
        return self._exit_watcher

    def start(self, task: TaskSpec) -> _Container:
        import docker.errors

        image = self.image_map.get(task.image, task.image)
        self._ensure_image(image)
        self.roots.of_run(task.run_id).stage_in(task)
        kwargs = self._create_kwargs(task, image)
        # Read before the container exists: its exit comes in this epoch of the stream, or in none.
        epoch = self.exits.epoch
        # Until the container is tracked, a Ctrl-C may leave Docker creating it after this call gave up:
        # cleanup looks for names still in this set until Docker has settled.
        self._submitting.add(task.name)
        with translated(f"creating {task.name}"):
            try:
                container_id = self.client.api.create_container(**kwargs)["Id"]
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
                # A container of this name is left from an engine that died: it is not ours to adopt.
                self.client.api.remove_container(task.name, force=True)
                if self.cgroups is not None:
                    self.cgroups.release(task.name)  # its figures are not this task's
                container_id = self.client.api.create_container(**kwargs)["Id"]
        self._submitting.discard(task.name)
        self.exits.watch(container_id)
        # Starting takes the daemon a while (the runtime, the network): it happens beside the engine, which
        # meanwhile creates the next tasks' containers and copes with those that ended.
        starting = self._beside.submit(self._start_container, task.name, container_id)
        follower = LogFollower(self.client.api, container_id, Path(task.log_path), self.changed)
        return _Container(container_id, follower, time.monotonic(), epoch, starting)

    def _start_container(self, name: str, container_id: str) -> StatsSampler | None:
        """Start the created container, in a thread beside the engine; what samples its resource use where its
        cgroup cannot be read. A daemon that failed is asked again a few times."""
        try:
            for attempt in range(_START_ATTEMPTS):
                try:
                    with translated(f"starting {name}"):
                        self.client.api.start(container_id)
                    break
                except TemporaryBackendError as exc:
                    if attempt == _START_ATTEMPTS - 1:
                        raise
                    time.sleep(exc.delay)
            if self.cgroups is None or not self.cgroups.exists(name):
                return StatsSampler(self.client.api, container_id)
            return None
        finally:
            self.changed()

    def _ensure_image(self, image: str) -> None:
        if image in self._checked_images and self.pull != "always":
            return
        import docker.errors

        with translated(f"image {image}"):
            if self.pull == "always":
                self._pull(image)
            else:
                try:
                    self.client.images.get(image)
                except docker.errors.ImageNotFound:
                    if self.pull == "never":
                        raise PermanentBackendError(
                            f"image {image!r} is not on this machine and --pull is never (use --image-map to "
                            "replace it with a local image)",
                            REASON_IMAGE,
                        ) from None
                    self._pull(image)
        self._checked_images.add(image)

    def _pull(self, image: str) -> None:
        import docker.errors

        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise PermanentBackendError(
                f"image {image!r} is not on this machine and cannot be pulled: {exc.explanation or exc}",
                REASON_IMAGE,
            ) from exc

    def _create_kwargs(self, task: TaskSpec, image: str) -> dict[str, Any]:
        """The arguments of the Docker API's create_container for the task."""
        import docker.types

        res = task.resources
        binds = {
            m.host_path: {"bind": m.container_path, "mode": "ro" if m.read_only else "rw"}
            for m in task.mounts
        }
        for host_path, container_path in self.roots.of_run(task.run_id).binds(task).items():
            binds[host_path] = {"bind": container_path, "mode": "rw"}
        if task.workspace is not None:
            binds[task.workspace.host_dir] = {"bind": WORKSPACE_PATH, "mode": "rw"}
        host: dict[str, Any] = {
            "binds": binds,
            # The daemon's default json-file driver stores output as JSON text, turning bytes that are not
            # UTF-8 into U+FFFD before flow can copy them; the local driver keeps them as they were.
            "log_config": docker.types.LogConfig(type="local"),
        }
        kwargs: dict[str, Any] = {
            "image": image,
            "name": task.name,
            "labels": {**task.labels, LABEL_MANAGED: "1"},
            "environment": dict(task.env),
            "volumes": [bind["bind"] for bind in binds.values()],
            "detach": True,
        }
        if self.cgroups is not None:
            host["cgroup_parent"] = self.cgroups.parent(task.name)
        if self.run_as_non_root:
            kwargs["user"] = NON_ROOT_USER
        if task.command:
            kwargs["entrypoint"] = list(task.command)
            kwargs["command"] = list(task.args)
        elif task.args:
            kwargs["command"] = list(task.args)
        if res.cpu_limit:
            host["nano_cpus"] = int(res.cpu_limit * 1e9)
        if res.memory_limit:
            # No swap beyond the limit: a task over its memory is OOM-killed, as it would be on Kubernetes.
            host["mem_limit"] = res.memory_limit
            host["memswap_limit"] = res.memory_limit
        if res.accelerator_count:
            if self.has_gpu_runtime:
                host["device_requests"] = [
                    docker.types.DeviceRequest(count=res.accelerator_count, capabilities=[["gpu"]])
                ]
            else:
                log.warning(
                    "%s asks for %d %s GPU(s) but this Docker engine has no GPU runtime; running without",
                    task.task_path,
                    res.accelerator_count,
                    res.accelerator_type or "",
                )
        kwargs["host_config"] = self.client.api.create_host_config(**host)
        return kwargs

    # -- poll -------------------------------------------------------------------------------------

    def state(self, tasks: Sequence[Started[_Container]]) -> dict[str, TaskStatus]:
        # Docker is asked about a container once the events stream said it exited, or when the stream
        # could not have said so (it was down or connected anew since the container was last seen running).
        exits = self.exits
        epoch = exits.epoch
        result: dict[str, TaskStatus] = {}
        for task in tasks:
            tracked = task.runtime
            if not tracked.starting.done():
                result[task.name] = _PENDING
                continue
            error = (
                PermanentBackendError("not started")
                if tracked.starting.cancelled()
                else tracked.starting.exception()
            )
            if error is not None:
                result[task.name] = _not_started(error)
                continue
            if epoch is not None and tracked.seen_running == epoch and not exits.exited(tracked.container_id):
                result[task.name] = self._running(task)
                continue
            state = tracked.exit_state or self._exit_state(task)
            if state is None:
                result[task.name] = TaskStatus(
                    Phase.FAILED, reason=REASON_LOST, message="the container was removed from outside flow"
                )
            elif state.get("Status") not in ("exited", "dead"):
                tracked.seen_running = epoch
                result[task.name] = self._running(task)
            elif task.log is not None and not task.log.done:
                tracked.exit_state = state  # its output is still being copied: look again in a moment
                result[task.name] = _RUNNING
            else:
                result[task.name] = self._finished(task, state)
        return result

    def _running(self, task: Started[_Container]) -> TaskStatus:
        """A running task's status; its output is followed from when it ran a while."""
        if task.log is None and time.monotonic() - task.runtime.started_at >= _FOLLOW_AFTER_SECONDS:
            task.log = task.runtime.log
            task.log.start()
        return _RUNNING

    def _exit_state(self, task: Started[_Container]) -> dict[str, Any] | None:
        """The container's State: a clean exit as its event told it, else as Docker inspects it (an OOM kill,
        a runtime's error, a container gone)."""
        if self.exits.exit_code(task.runtime.container_id) == 0:
            return {"Status": "exited", "ExitCode": 0}
        return self._container_state(task)

    def _container_state(self, task: Started[_Container]) -> dict[str, Any] | None:
        """The container's State as Docker inspects it; None when it is gone."""
        import docker.errors

        with translated(f"inspecting {task.name}"):
            try:
                attrs = self.client.api.inspect_container(task.runtime.container_id)
            except docker.errors.NotFound:
                return None
        state: dict[str, Any] = attrs.get("State") or {}
        return state

    def _finished(self, task: Started[_Container], state: dict[str, Any]) -> TaskStatus:
        """A stopped container's exit, once its output is all in the log and a staged root has its outputs."""
        tracked = task.runtime
        code = int(state.get("ExitCode", -1))
        if task.log is None:
            self._copy_log(task)
        peak, cpu = self._usage(task)
        self.exits.forget(tracked.container_id)
        if state.get("OOMKilled"):
            limit = task.spec.resources.memory_limit
            reason, message = (
                REASON_OOM,
                f"killed: out of memory (limit {limit} bytes)" if limit else "out of memory",
            )
        elif code != 0:
            reason, message = REASON_ERROR, state.get("Error") or _exit_message(code)
            if tracked.log.last_error_line and not state.get("Error"):
                message = f"{message}: {tracked.log.last_error_line}"
        else:
            reason, message = None, ""
        if reason is None:
            try:
                self.roots.of_run(task.spec.run_id).stage_out(task.spec)
            except BackendError as exc:
                reason, message = REASON_ERROR, str(exc)
        phase = Phase.FAILED if reason else Phase.SUCCEEDED
        return TaskStatus(
            phase, exit_code=code, reason=reason, message=message, peak_memory_bytes=peak, cpu_seconds=cpu
        )

    def _copy_log(self, task: Started[_Container]) -> None:
        with translated(f"reading the output of {task.name}", gone_ok=True):
            task.runtime.log.copy_all()

    def _usage(self, task: Started[_Container]) -> tuple[int | None, float | None]:
        """The peak memory and CPU time of a task whose container exited; its cgroup is removed."""
        sampler = task.runtime.starting.result()
        if sampler is not None:
            return sampler.peak_memory_bytes, sampler.cpu_seconds
        assert self.cgroups is not None
        usage = self.cgroups.usage(task.name)
        self.cgroups.release(task.name)
        return usage.peak_memory_bytes, usage.cpu_seconds

    def remove(self, task: Started[_Container]) -> None:
        # The container has stopped: the engine goes on while Docker removes it; a run's cleanup removes
        # what is left of it (remove_run), whether or not this removal is done by then.
        removal = self._beside.submit(self._remove_container, task.name, task.runtime.container_id)
        with self._removals_lock:  # cancelled tasks are removed from several threads
            self._removals = [*(f for f in self._removals if not f.done()), removal]
        self.exits.forget(task.runtime.container_id)
        if self.cgroups is not None:
            self.cgroups.release(task.name)
        self.roots.release(task.spec)

    def _remove_container(self, name: str, container_id: str) -> None:
        with contextlib.suppress(BackendError), translated(f"removing {name}", gone_ok=True):
            self.client.api.remove_container(container_id, force=True)

    def wait(self, timeout: float) -> None:
        # The output of a container that exited is still being copied: look again soon.
        if any(t.status is None and t.runtime.exit_state is not None for t in self.tracked()):
            timeout = min(timeout, _EXIT_RECHECK_SECONDS)
        super().wait(timeout)

    # -- stop, cleanup -----------------------------------------------------------------------------

    def stop(self, task: Started[_Container]) -> None:
        # A start still waiting for its turn does not happen; one under way is let finish, then stopped.
        starting = task.runtime.starting
        if not starting.cancel():
            with contextlib.suppress(Exception):
                starting.result()
        with translated(f"stopping {task.name}", gone_ok=True):
            self.client.api.stop(task.runtime.container_id, timeout=_STOP_GRACE_SECONDS)
        if task.log is None:
            self._copy_log(task)
        else:
            task.log.wait(_LOG_DRAIN_SECONDS)

    def remove_run(self, run: RunInfo, keep_failed: bool) -> bool:
        # Docker refuses to remove a container twice at once: the removals under way end first.
        with self._removals_lock:
            removals, self._removals = self._removals, []
        futures.wait(removals)
        with translated(f"cleaning up run {run.run_id}"):
            leftovers = self.client.api.containers(all=True, filters={"label": f"{LABEL_RUN}={run.run_id}"})
        for summary in leftovers:
            if keep_failed and summary.get("State") == "exited":
                continue
            with translated(f"removing {summary.get('Names')}", gone_ok=True):
                self.client.api.remove_container(summary["Id"], force=True)
        # A create that a Ctrl-C cut short may still complete in the daemon: look until it is gone.
        of_run = {name for name in self._submitting if name.startswith(f"flow-{run.run_id}-")}
        interrupted = {name for name in of_run if self._exists_or_pending(name)}
        self._submitting -= of_run - interrupted
        if not interrupted:
            if self.cgroups is not None:
                self.cgroups.release_all(f"flow-{run.run_id}-")
            self.roots.cleanup(run)
        return bool(interrupted)

    def _exists_or_pending(self, name: str) -> bool:
        """Whether a container of this name exists, or might still appear (asked again after settling)."""
        import docker.errors

        with translated(f"looking for {name}"):
            try:
                self.client.api.inspect_container(name)
            except docker.errors.NotFound:
                time.sleep(_SETTLE_SECONDS)
                try:
                    self.client.api.inspect_container(name)
                except docker.errors.NotFound:
                    return False
        return True

    def close(self) -> None:
        super().close()
        # Starts not under way are dropped (cleanup removes their containers); removals are let finish.
        for task in self.tracked():
            task.runtime.starting.cancel()
        self._beside.shutdown()
        if self._exit_watcher is not None:
            self._exit_watcher.close()
        self.client.close()


def _not_started(error: BaseException) -> TaskStatus:
    """The status of a task whose container could not start."""
    if isinstance(error, PermanentBackendError):
        return TaskStatus(Phase.FAILED, reason=error.reason, message=str(error))
    reason = REASON_ERROR if isinstance(error, TemporaryBackendError) else REASON_LOST
    return TaskStatus(Phase.FAILED, reason=reason, message=str(error))


def _exit_message(code: int) -> str:
    """What a container's exit code says. Above 128 it is the signal that ended its main process, as a shell
    reports it: `docker kill` from outside shows as "killed by SIGKILL"."""
    try:
        killed_by = signal.Signals(code - 128).name if code > 128 else ""
    except ValueError:
        killed_by = ""
    return f"exited with code {code}" + (f" (killed by {killed_by})" if killed_by else "")
