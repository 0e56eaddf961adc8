"""Components as local subprocesses: no container, fastest feedback, the image is ignored.

Tasks see the pipeline root at its host path, with the same layout as `/flow` in containers, and run with
the Python environment flow itself runs in (its interpreter's folder first on PATH); a task that installs
packages runs in a virtual environment of its own layered on it (backends/process/venvs.py). Of flow's own
environment a task gets only what `task_environment` lets through: not the store's URL, cloud keys or a
kubeconfig. Each task runs under a reaper (backends/process/reaper.py) that keeps every process it starts,
daemons included, to be killed when it ends or is cancelled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.base import (
    HOST_FILES_VISIBLE,
    REASON_ERROR,
    REASON_LOST,
    BackendError,
    PermanentBackendError,
    Phase,
    RunInfo,
    TaskSpec,
    TaskStatus,
)
from backends.process import reaper, venvs
from backends.tracking import Started, TrackingBackend
from backends.workspaces import FolderWorkspace, Workspace, WorkspaceView
from roots.base import Root, TaskView
from roots.files import staging_base
from roots.views import RootViews

log = logging.getLogger(__name__)

_KILL_GRACE_SECONDS = 3.0
# The reaper kills what is left of a cancelled task after the grace; the engine kills the reaper itself only
# should it not have ended this much later.
_REAPER_MARGIN_SECONDS = 2.0
# What a task gets of flow's environment, besides its own variables and RUN_ENV and TASK_ENV.
_PASSED_ENV = ("PATH", "HOME", "LANG", "TMPDIR")
_PASSED_ENV_PREFIXES = ("LC_",)
# Every task process carries its run in its environment: the process backend's "label", so that a later
# flow process (`flow cancel`, `flow resume`) finds what an engine that died left running.
RUN_ENV, TASK_ENV = "FLOW_RUN", "FLOW_TASK"
_RUNNING = TaskStatus(Phase.RUNNING)


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    workdir: str
    exited: TaskStatus | None = None  # once reaped: reaping is done once


class ProcessBackend(TrackingBackend[_Process]):
    name = "process"
    host_files = HOST_FILES_VISIBLE

    def __init__(self) -> None:
        super().__init__()
        self._warned: set[tuple[str, str]] = set()  # (run, resource) said to be unenforced
        # Files staged out of a root where this backend's tasks find them: a folder of this instance's, so
        # that no other engine removes files its tasks read.
        self._staged = staging_base() / f"process-{os.getpid()}-{id(self):x}"
        self.roots = RootViews(lambda root: root.on_host(self.name, self._staged))

    def root_view(self, root: Root) -> TaskView:
        return self.roots.of(root)

    def workspace_view(self, workspace: Workspace) -> WorkspaceView:
        return FolderWorkspace(workspace, path=workspace.host_dir)  # as kfp.local's SubprocessRunner

    def prepare(self, run: RunInfo) -> None:
        self.roots.prepare(run)

    def start(self, task: TaskSpec) -> _Process:
        if not task.command:
            raise PermanentBackendError(
                "the component has no command; the process backend cannot use an image's entrypoint",
                reason=REASON_ERROR,
            )
        Path(task.log_path).parent.mkdir(parents=True, exist_ok=True)
        self.roots.of_run(task.run_id).stage_in(task)
        env = task_environment(os.environ, task)
        argv = [*task.command, *task.args]
        if shutil.which(argv[0], path=env["PATH"]) is None:
            raise PermanentBackendError(f"cannot start {argv[0]!r}: no such executable on the task's PATH")
        self._warn_unenforced(task)
        start = venvs.launch(argv, venvs.venvs_folder(), env)
        workdir = tempfile.mkdtemp(prefix=f"{task.name}-")
        reaped = [sys.executable, "-I", "-S", reaper.__file__, str(_KILL_GRACE_SECONDS), *start.argv]
        # The task writes its own log file, which only its owner reads, as the store.
        with open(os.open(task.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as log_file:
            try:
                popen = subprocess.Popen(
                    reaped,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    env=start.env,
                    start_new_session=True,  # its own process group, so cancel reaches its children
                    pass_fds=() if start.lock is None else (start.lock,),  # the reaper holds the venv
                )
            except OSError as exc:
                shutil.rmtree(workdir, ignore_errors=True)
                raise PermanentBackendError(f"cannot start the task's reaper: {exc.strerror}") from exc
            finally:
                if start.lock is not None:
                    os.close(start.lock)
        return _Process(popen, workdir)

    def _warn_unenforced(self, task: TaskSpec) -> None:
        """Say once per run and resource that a limit the pipeline sets is not enforced here."""
        res = task.resources
        asked = {
            "CPU limits": res.cpu_limit is not None,
            "memory limits": res.memory_limit is not None,
            "accelerators": res.accelerator_count > 0,
        }
        for what, is_asked in asked.items():
            if is_asked and (task.run_id, what) not in self._warned:
                self._warned.add((task.run_id, what))
                log.warning(
                    "run %s: the process backend does not enforce %s (%s sets some); it records each "
                    "task's peak memory and CPU time",
                    task.run_id,
                    what,
                    task.task_path,
                )

    def state(self, tasks: Sequence[Started[_Process]]) -> dict[str, TaskStatus]:
        return {task.name: self._exit(task) or _RUNNING for task in tasks}

    def _exit(self, task: Started[_Process]) -> TaskStatus | None:
        """The task's final status once its process exited (reaped here, once), else None."""
        proc = task.runtime
        if proc.exited is not None:
            return proc.exited
        try:
            pid, wait_status, usage = os.wait4(proc.popen.pid, os.WNOHANG)
        except ChildProcessError:
            proc.exited = TaskStatus(Phase.FAILED, reason=REASON_LOST, message="the process disappeared")
            return proc.exited
        if pid == 0:
            return None
        code = os.waitstatus_to_exitcode(wait_status)
        proc.popen.returncode = code  # reaped here, with rusage, instead of by Popen.poll
        _kill_group(proc, signal.SIGKILL)  # stray background children of the task
        install_error = _first_line(Path(proc.workdir, venvs.ERROR_FILE)) if code != 0 else ""
        peak, cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime
        staged_out = self._stage_out(task.spec) if code == 0 else ""
        if staged_out:
            proc.exited = TaskStatus(
                Phase.FAILED, exit_code=0, reason=REASON_ERROR, message=staged_out, peak_memory_bytes=peak
            )
        elif code == 0:
            proc.exited = TaskStatus(Phase.SUCCEEDED, exit_code=0, peak_memory_bytes=peak, cpu_seconds=cpu)
        else:
            message = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            message = install_error or message
            proc.exited = TaskStatus(
                Phase.FAILED,
                exit_code=code,
                reason=REASON_ERROR,
                message=message,
                peak_memory_bytes=peak,
                cpu_seconds=cpu,
            )
        return proc.exited

    def _stage_out(self, task: TaskSpec) -> str:
        """Upload a staged task's outputs; what went wrong, or "" when all is well."""
        try:
            self.roots.of_run(task.run_id).stage_out(task)
        except BackendError as exc:
            return str(exc)
        return ""

    def stop(self, task: Started[_Process]) -> None:
        proc = task.runtime
        _kill_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + _KILL_GRACE_SECONDS + _REAPER_MARGIN_SECONDS
        while time.monotonic() < deadline and self._exit(task) is None:
            time.sleep(0.05)
        if self._exit(task) is None:
            _kill_group(proc, signal.SIGKILL)
            proc.popen.wait()

    def remove(self, task: Started[_Process]) -> None:
        shutil.rmtree(task.runtime.workdir, ignore_errors=True)

    def remove_run(self, run: RunInfo, keep_failed: bool) -> bool:
        for task in self.tracked(run.run_id):
            self.cancel(task.name)
        _stop_processes_of_run(run.run_id)
        self.roots.cleanup(run)
        return False

    def close(self) -> None:
        super().close()
        self.roots.close()


def _kill_group(proc: _Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.popen.pid, sig)


def task_environment(environ: Mapping[str, str], task: TaskSpec) -> dict[str, str]:
    """A task's environment: the allowed part of flow's own (`_PASSED_ENV`, `_PASSED_ENV_PREFIXES`), the
    task's own variables, its run and task, and flow's interpreter folder first on PATH."""
    passed = {
        name: value
        for name, value in environ.items()
        if name in _PASSED_ENV or name.startswith(_PASSED_ENV_PREFIXES)
    }
    env = {**passed, **task.env, RUN_ENV: task.run_id, TASK_ENV: task.task_path}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
    return env


def _stop_processes_of_run(run_id: str) -> None:
    """Stop what an engine that died left of the run: each task's reaper is asked to end its task (and so
    every process the task started), and killed with its group should it not have ended in time."""
    leaders = _processes_of_run(run_id)
    for pid in leaders:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE_SECONDS + _REAPER_MARGIN_SECONDS
    while time.monotonic() < deadline and any(_alive(pid) for pid in leaders):
        time.sleep(0.05)
    for pid in leaders:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, which its parent did not reap yet, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] != b"Z"


def _first_line(path: Path) -> str:
    """The first line of a small file the task's wrapper wrote, or "" (bounded: the task could write it)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline(500).strip()
    except OSError:
        return ""


def _processes_of_run(run_id: str) -> list[int]:
    """Process-group leaders started for the run, found by their environment (Linux /proc)."""
    marker = f"{RUN_ENV}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            is_leader = os.getpgid(int(entry.name)) == int(entry.name)
        except (OSError, ProcessLookupError):
            continue
        if marker in environ and is_leader:
            found.append(int(entry.name))
    return found
