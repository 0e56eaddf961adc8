"""Each task as a Docker container, through the Docker SDK, with the pipeline root bind-mounted at /flow."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
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
)
from backends.local.errors import translated
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
_SETTLE_SECONDS = 0.5
_RUNNING = TaskStatus(Phase.RUNNING)
NON_ROOT_USER = "65534:65534"  # "nobody": who tasks run as with run_as_non_root
# Task folders are made by flow (often root) but written by tasks running as nobody.
_NON_ROOT_TASK_FOLDER_MODE = 0o777


@dataclass
class _Container:
    container_id: str
    sampler: StatsSampler
    log: LogFollower


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
            runtimes = self.client.info().get("Runtimes") or {}
        self.has_gpu_runtime = "nvidia" in runtimes
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

    def start(self, task: TaskSpec) -> _Container:
        import docker.errors

        image = self.image_map.get(task.image, task.image)
        self._ensure_image(image)
        self.roots.of_run(task.run_id).stage_in(task)
        kwargs = self._run_kwargs(task, image)
        # Until the container is tracked, a Ctrl-C may leave Docker creating it after this call gave up:
        # cleanup looks for names still in this set until Docker has settled.
        self._submitting.add(task.name)
        with translated(f"starting {task.name}"):
            try:
                container = self.client.containers.create(**kwargs)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
                # A container of this name is left from an engine that died: it is not ours to adopt.
                self.client.containers.get(task.name).remove(force=True)
                container = self.client.containers.create(**kwargs)
            try:
                container.start()
            except docker.errors.APIError:
                container.remove(force=True)
                raise
        self._submitting.discard(task.name)
        # The container's output ends when it exits: the engine's wait ends then.
        follower = LogFollower(self.client.api, container.id, Path(task.log_path), self.changed)
        return _Container(container.id, StatsSampler(self.client.api, container.id), follower)

    def log_source(self, task: TaskSpec, runtime: _Container) -> LogFollower:
        return runtime.log

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

    def _run_kwargs(self, task: TaskSpec, image: str) -> dict[str, Any]:
        import docker.types

        res = task.resources
        kwargs: dict[str, Any] = {
            "image": image,
            "name": task.name,
            "labels": {**task.labels, LABEL_MANAGED: "1"},
            "environment": dict(task.env),
            "volumes": {
                m.host_path: {"bind": m.container_path, "mode": "ro" if m.read_only else "rw"}
                for m in task.mounts
            },
            "detach": True,
            # The daemon's default json-file driver stores output as JSON text, turning bytes that are not
            # UTF-8 into U+FFFD before flow can copy them; the local driver keeps them as they were.
            "log_config": docker.types.LogConfig(type="local"),
        }
        for host_path, container_path in self.roots.of_run(task.run_id).binds(task).items():
            kwargs["volumes"][host_path] = {"bind": container_path, "mode": "rw"}
        if task.workspace is not None:
            kwargs["volumes"][task.workspace.host_dir] = {"bind": WORKSPACE_PATH, "mode": "rw"}
        if self.run_as_non_root:
            kwargs["user"] = NON_ROOT_USER
        if task.command:
            kwargs["entrypoint"] = list(task.command)
            kwargs["command"] = list(task.args)
        elif task.args:
            kwargs["command"] = list(task.args)
        if res.cpu_limit:
            kwargs["nano_cpus"] = int(res.cpu_limit * 1e9)
        if res.memory_limit:
            # No swap beyond the limit: a task over its memory is OOM-killed, as it would be on Kubernetes.
            kwargs["mem_limit"] = res.memory_limit
            kwargs["memswap_limit"] = res.memory_limit
        if res.accelerator_count:
            if self.has_gpu_runtime:
                kwargs["device_requests"] = [
                    docker.types.DeviceRequest(count=res.accelerator_count, capabilities=[["gpu"]])
                ]
            else:
                log.warning(
                    "%s asks for %d %s GPU(s) but this Docker engine has no GPU runtime; running without",
                    task.task_path,
                    res.accelerator_count,
                    res.accelerator_type or "",
                )
        return kwargs

    # -- poll -------------------------------------------------------------------------------------

    def state(self, tasks: Sequence[Started[_Container]]) -> dict[str, TaskStatus]:
        # A container's output ends when it exits (or when it is removed): only a container whose output
        # ended is asked about, one inspection each, rather than listing every container on every tick.
        result: dict[str, TaskStatus] = {}
        for task in tasks:
            if not task.runtime.log.done:
                result[task.name] = _RUNNING
                continue
            state = self._container_state(task)
            if state is None:
                result[task.name] = TaskStatus(
                    Phase.FAILED, reason=REASON_LOST, message="the container was removed from outside flow"
                )
            elif state.get("Status") in ("exited", "dead"):
                result[task.name] = self._finished(task, state)
            else:
                result[task.name] = _RUNNING
        return result

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
        peak, cpu = tracked.sampler.peak_memory_bytes, tracked.sampler.cpu_seconds
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

    def remove(self, task: Started[_Container]) -> None:
        with translated(f"removing {task.name}", gone_ok=True):
            self.client.api.remove_container(task.runtime.container_id, force=True)
        self.roots.release(task.spec)

    def wait(self, timeout: float) -> None:
        # A container's output ends a moment before Docker reports it exited: until it does, look again soon.
        if any(t.status is None and t.runtime.log.done for t in self.tracked()):
            timeout = min(timeout, _EXIT_RECHECK_SECONDS)
        super().wait(timeout)

    # -- stop, cleanup -----------------------------------------------------------------------------

    def stop(self, task: Started[_Container]) -> None:
        with translated(f"stopping {task.name}", gone_ok=True):
            self.client.api.stop(task.runtime.container_id, timeout=_STOP_GRACE_SECONDS)
        task.runtime.log.wait(_LOG_DRAIN_SECONDS)

    def remove_run(self, run: RunInfo, keep_failed: bool) -> bool:
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
        self.client.close()


def _exit_message(code: int) -> str:
    """What a container's exit code says. Above 128 it is the signal that ended its main process, as a shell
    reports it: `docker kill` from outside shows as "killed by SIGKILL"."""
    try:
        killed_by = signal.Signals(code - 128).name if code > 128 else ""
    except ValueError:
        killed_by = ""
    return f"exited with code {code}" + (f" (killed by {killed_by})" if killed_by else "")
