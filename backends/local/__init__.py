"""Each task as a Docker container, through the Docker SDK, with the pipeline root bind-mounted at /flow."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from backends.base import (
    HOST_FILES_MOUNTED,
    REASON_CANCELLED,
    REASON_ERROR,
    REASON_IMAGE,
    REASON_LOST,
    REASON_OOM,
    WORKSPACE_PATH,
    Backend,
    BackendError,
    PermanentBackendError,
    Phase,
    RunInfo,
    TaskSpec,
    TaskStatus,
    Workspace,
    is_s3_root,
)
from backends.local.errors import translated
from backends.local.logs import LogFollower
from backends.local.stats import StatsSampler
from backends.rootfiles import LocalRootFiles, RootFiles
from backends.s3.roots import LOCAL_MOUNT
from backends.s3.staging import HostStaging, staging_base

log = logging.getLogger(__name__)

PULL_POLICIES = ("never", "missing", "always")  # the same values as runner.config; backends import no runner
LABEL_RUN, LABEL_MANAGED = "flow.run", "flow.managed"
_STOP_GRACE_SECONDS = 3
# After the container exits, its log copy finishes within moments; poll again rather than block longer.
_LOG_DRAIN_SECONDS = 0.05
_EXIT_RECHECK_SECONDS = 0.01
_CLEANUP_SECONDS, _SETTLE_SECONDS = 10.0, 0.5
NON_ROOT_USER = "65534:65534"  # "nobody": who tasks run as with run_as_non_root
# Task folders are made by flow (often root) but written by tasks running as nobody.
_NON_ROOT_TASK_FOLDER_MODE = 0o777


@dataclass
class _Container:
    spec: TaskSpec
    container_id: str
    sampler: StatsSampler
    log: LogFollower
    status: TaskStatus | None = None
    removed: bool = False


class DockerBackend(Backend):
    name = "docker"
    host_files = HOST_FILES_MOUNTED

    def __init__(
        self,
        image_map: Mapping[str, str] | None = None,
        pull: str = "missing",
        keep_failed: bool = False,
        client: docker.DockerClient | None = None,
        run_as_non_root: bool = False,
    ) -> None:
        """`run_as_non_root`: tasks run as user and group 65534 rather than as their image's user."""
        if pull not in PULL_POLICIES:
            raise ValueError(f"pull policy must be one of {', '.join(PULL_POLICIES)}, not {pull!r}")
        self.image_map = dict(image_map or {})
        self.pull = pull
        self.keep_failed = keep_failed
        self.run_as_non_root = run_as_non_root
        with translated("connecting to Docker"):
            self.client = client or docker.from_env(timeout=60)
            self.client.ping()
            runtimes = self.client.info().get("Runtimes") or {}
        self.has_gpu_runtime = "nvidia" in runtimes
        self._containers: dict[str, _Container] = {}
        self._checked_images: set[str] = set()
        self._submitting: set[str] = set()
        self._changed = threading.Event()  # set when a container's output ends, which is when it exits
        self._staging_base = staging_base() / "docker"
        self._staging = HostStaging(_NON_ROOT_TASK_FOLDER_MODE if run_as_non_root else None)

    @staticmethod
    def available() -> bool:
        """Whether a Docker engine answers, without raising."""
        try:
            client = docker.from_env(timeout=5)
            client.ping()
            client.close()
        except Exception:  # any failure means "no usable engine"
            return False
        return True

    def files(self, root: str) -> RootFiles:
        if is_s3_root(root):
            return super().files(root)
        mode = _NON_ROOT_TASK_FOLDER_MODE if self.run_as_non_root else None
        return LocalRootFiles(Path(root), task_folder_mode=mode)

    def prepare_workspace(self, workspace: Workspace) -> None:
        super().prepare_workspace(workspace)
        if self.run_as_non_root:  # tasks run as nobody; the folder is inside the user's own FLOW_HOME
            os.chmod(workspace.host_dir, _NON_ROOT_TASK_FOLDER_MODE)

    def prepare(self, run: RunInfo) -> None:
        if not is_s3_root(run.root):
            Path(run.root).mkdir(parents=True, exist_ok=True)

    def _staged(self, task: TaskSpec) -> Path:
        """The host folder a task of an object-store root sees as /s3: its own, gone when it ends."""
        return self._staging_base / task.name

    # -- submit -----------------------------------------------------------------------------------

    def submit(self, task: TaskSpec) -> str:
        image = self.image_map.get(task.image, task.image)
        self._ensure_image(image)
        if task.staging is not None:
            shutil.rmtree(self._staged(task), ignore_errors=True)
            self._staging.stage_in(task.staging, self._staged(task))
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
        self._containers[task.name] = _Container(
            task,
            container.id,
            StatsSampler(self.client.api, container.id),
            LogFollower(self.client.api, container.id, Path(task.log_path), self._changed.set),
        )
        self._submitting.discard(task.name)
        return task.name

    def _ensure_image(self, image: str) -> None:
        if image in self._checked_images and self.pull != "always":
            return
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
        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise PermanentBackendError(
                f"image {image!r} is not on this machine and cannot be pulled: {exc.explanation or exc}",
                REASON_IMAGE,
            ) from exc

    def _run_kwargs(self, task: TaskSpec, image: str) -> dict[str, Any]:
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
        if task.staging is not None:
            kwargs["volumes"][str(self._staged(task))] = {"bind": LOCAL_MOUNT, "mode": "rw"}
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

    def poll(self, handles: Sequence[str]) -> dict[str, TaskStatus]:
        pending = [h for h in handles if h in self._containers and self._containers[h].status is None]
        states: dict[str, str] = {}
        if pending:
            with translated("listing containers"):
                for summary in self.client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"}):
                    for name in summary.get("Names") or []:
                        states[name.lstrip("/")] = summary.get("State", "")
        result: dict[str, TaskStatus] = {}
        for handle in handles:
            tracked = self._containers.get(handle)
            if tracked is None:
                result[handle] = TaskStatus(Phase.FAILED, reason=REASON_LOST, message="unknown container")
                continue
            if tracked.status is None:
                state = states.get(handle)
                if state is None:
                    tracked.status = TaskStatus(
                        Phase.FAILED,
                        reason=REASON_LOST,
                        message="the container was removed from outside flow",
                    )
                elif state in ("exited", "dead") and tracked.log.wait(_LOG_DRAIN_SECONDS):
                    tracked.status = self._finished(tracked)
            result[handle] = tracked.status or TaskStatus(Phase.RUNNING)
        return result

    def _finished(self, tracked: _Container) -> TaskStatus:
        """Read a stopped container's exit, keep its logs, and remove it (unless it failed and is kept)."""
        with translated(f"inspecting {tracked.spec.name}"):
            container = self.client.containers.get(tracked.container_id)
            state = container.attrs.get("State") or {}
        code = int(state.get("ExitCode", -1))
        peak, cpu = tracked.sampler.peak_memory_bytes, tracked.sampler.cpu_seconds
        if state.get("OOMKilled"):
            limit = tracked.spec.resources.memory_limit
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
        if reason is None and tracked.spec.staging is not None:
            try:
                self._staging.stage_out(tracked.spec.staging, self._staged(tracked.spec))
            except BackendError as exc:
                reason, message = REASON_ERROR, str(exc)
        phase = Phase.FAILED if reason else Phase.SUCCEEDED
        status = TaskStatus(
            phase, exit_code=code, reason=reason, message=message, peak_memory_bytes=peak, cpu_seconds=cpu
        )
        if status.phase == Phase.SUCCEEDED or not self.keep_failed:
            self._remove(tracked)
        return status

    def _remove(self, tracked: _Container) -> None:
        if tracked.removed:
            return
        with translated(f"removing {tracked.spec.name}"), contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(tracked.container_id, force=True)
        tracked.removed = True
        if tracked.spec.staging is not None:
            shutil.rmtree(self._staged(tracked.spec), ignore_errors=True)

    def wait(self, timeout: float) -> None:
        # A container's output ends a moment before Docker reports it exited: until it does, look again soon.
        if any(c.status is None and c.log.done for c in self._containers.values()):
            timeout = min(timeout, _EXIT_RECHECK_SECONDS)
        self._changed.wait(timeout)
        self._changed.clear()

    # -- logs, cancel, cleanup --------------------------------------------------------------------

    def cancel(self, handle: str) -> None:
        tracked = self._containers.get(handle)
        if tracked is None or tracked.status is not None:
            return
        with translated(f"stopping {handle}"), contextlib.suppress(docker.errors.NotFound):
            self.client.api.stop(tracked.container_id, timeout=_STOP_GRACE_SECONDS)
        tracked.log.wait(_LOG_DRAIN_SECONDS)
        tracked.status = TaskStatus(Phase.FAILED, reason=REASON_CANCELLED, message="cancelled")
        self._remove(tracked)

    def cleanup(self, run: RunInfo, keep_failed: bool = False) -> None:
        keep = keep_failed or self.keep_failed
        deadline = time.monotonic() + _CLEANUP_SECONDS
        interrupted = {name for name in self._submitting if name.startswith(f"flow-{run.run_id}-")}
        while True:
            with translated(f"cleaning up run {run.run_id}"):
                leftovers = self.client.api.containers(
                    all=True, filters={"label": f"{LABEL_RUN}={run.run_id}"}
                )
            for summary in leftovers:
                if keep and summary.get("State") == "exited":
                    continue
                with (
                    translated(f"removing {summary.get('Names')}"),
                    contextlib.suppress(docker.errors.NotFound),
                ):
                    self.client.api.remove_container(summary["Id"], force=True)
            if not interrupted or time.monotonic() > deadline:
                break
            # A create that a Ctrl-C cut short may still complete in the daemon: look until it is gone.
            interrupted = {name for name in interrupted if self._exists_or_pending(name)}
            time.sleep(_SETTLE_SECONDS)
        self._submitting -= {name for name in self._submitting if name.startswith(f"flow-{run.run_id}-")}
        for name in [n for n, c in self._containers.items() if c.spec.run_id == run.run_id]:
            del self._containers[name]
        # Staged folders of the run's tasks, this engine's or one that died (named after the containers).
        for staged in self._staging_base.glob(f"flow-{run.run_id}-*"):
            shutil.rmtree(staged, ignore_errors=True)

    def _exists_or_pending(self, name: str) -> bool:
        """Whether a container of this name exists, or might still appear (asked again after settling)."""
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
        self.client.close()


def _exit_message(code: int) -> str:
    """What a container's exit code says. Above 128 it is the signal that ended its main process, as a shell
    reports it: `docker kill` from outside shows as "killed by SIGKILL"."""
    try:
        killed_by = signal.Signals(code - 128).name if code > 128 else ""
    except ValueError:
        killed_by = ""
    return f"exited with code {code}" + (f" (killed by {killed_by})" if killed_by else "")
