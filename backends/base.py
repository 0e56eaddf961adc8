"""The Backend contract, the resolved TaskSpec it receives, and the errors it raises.

The engine imports only this module from `backends`, and the pipeline root's kinds from `roots`; a backend
imports nothing from the engine.
"""

from __future__ import annotations

import abc
import enum
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from backends.settings import BackendSettings
from backends.workspaces import FolderWorkspace, Workspace, WorkspaceView
from roots.files import staging_base

if TYPE_CHECKING:
    from roots.base import Root, TaskView


HOST_FILES_VISIBLE, HOST_FILES_MOUNTED, HOST_FILES_COPIED = "visible", "mounted", "copied"


class Phase(enum.Enum):
    """What a backend knows about one submitted task."""

    PENDING = "pending"  # accepted, not yet running (pulling an image, scheduling)
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # exited 0
    FAILED = "failed"  # exited non-zero, or could not start; `reason` says which

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


# Reasons a backend reports with Phase.FAILED, so the engine and users see what happened.
REASON_ERROR = "Error"  # non-zero exit
REASON_OOM = "OOMKilled"
REASON_IMAGE = "ImageNotFound"
REASON_TIMEOUT = "Timeout"
REASON_CANCELLED = "Cancelled"
REASON_LOST = "Lost"  # the container or process disappeared from under the run
REASON_EVICTED = "Evicted"  # the node took the pod's place back (pressure, drain): not the task's fault
REASON_UNSCHEDULABLE = "Unschedulable"  # no node can take the task (resources, selector, taints)


@dataclass(frozen=True)
class Resources:
    cpu_limit: float | None = None
    memory_limit: int | None = None  # bytes
    cpu_request: float | None = None
    memory_request: int | None = None
    accelerator_type: str | None = None
    accelerator_count: int = 0


@dataclass(frozen=True)
class Mount:
    host_path: str
    container_path: str
    read_only: bool = False


@dataclass(frozen=True)
class RunInfo:
    """What a backend needs to know about a run to prepare and clean up after it."""

    run_id: str
    root: str  # the pipeline root as `Backend.pipeline_root` gave it
    workspace: Workspace | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One attempt of one task, fully resolved: nothing left for the backend to interpret."""

    run_id: str
    task_path: str  # unique within the run, e.g. "train" or "outer/for-loop-2/1/inner"
    attempt: int
    name: str  # deterministic from (run, task, attempt); a valid container/pod name
    image: str
    command: Sequence[str]  # replaces the image's entrypoint; empty keeps it
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    mounts: Sequence[Mount] = ()  # files of this machine a container reads in place (imported artifacts)
    timeout: float | None = None  # seconds; None for no deadline
    labels: Mapping[str, str] = field(default_factory=dict)
    executor_input: Mapping[str, Any] = field(
        default_factory=dict
    )  # the KFP ExecutorInput, as `{{$}}` gave it
    log_path: str = ""  # host path where this attempt's output must be kept
    # The task's kfp-kubernetes executor config (secrets, volumes, node selector...), for backends that
    # run pods; others ignore it.
    kubernetes: Mapping[str, Any] = field(default_factory=dict)
    # Paths relative to the root of the task's input artifacts and of its output folder, for a root whose
    # files tasks get copies of (TaskView.copies).
    root_inputs: tuple[str, ...] = ()
    root_outputs: str = ""
    # Set when the task uses its run's workspace: the backend makes it appear at `workspace_path`.
    workspace: Workspace | None = None


@dataclass(frozen=True)
class TaskStatus:
    phase: Phase
    exit_code: int | None = None
    reason: str | None = None
    message: str = ""
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None


class BackendError(Exception):
    """A failure talking to the container runtime, translated at the backend's boundary."""


class TemporaryBackendError(BackendError):
    """Worth retrying after `delay` seconds (the daemon or API is busy or briefly unreachable)."""

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentBackendError(BackendError):
    """Retrying cannot help (bad image, invalid spec, forbidden): the task fails with this reason."""

    def __init__(self, message: str, reason: str = REASON_ERROR) -> None:
        super().__init__(message)
        self.reason = reason


class BackendUnavailableError(BackendError):
    """The backend cannot run anything at all (no Docker daemon, no cluster)."""


class Backend(abc.ABC):
    """Runs tasks. The engine calls eight methods: `prepare`, `submit`, `adopt`, `poll`, `wait`, `cancel`,
    `cleanup` and `close`, all from one thread except `cancel` (see there). A task's output goes to its log
    file (`TaskSpec.log_path`), which `flow logs` and the UI read. backends.tracking.TrackingBackend
    implements the contract from a few hooks, which is how a backend is best written.
    """

    name: str = ""
    # The backend's settings, which its constructor takes as keyword arguments; the commands' options and
    # flow.yaml's keys are made from them (backends/settings.py).
    Settings: ClassVar[type[BackendSettings]] = BackendSettings
    # How a task reads a file or folder of the engine's machine outside the root (an imported artifact):
    # HOST_FILES_VISIBLE where tasks run on this machine as flow's user, HOST_FILES_MOUNTED where they are
    # containers of this machine that get it mounted read-only at its path (TaskSpec.mounts), else copied
    # into the run's folder of the root.
    host_files: str = HOST_FILES_COPIED

    def default_root(self, folder: Path) -> str:
        """The pipeline root of a run that asks for none: `folder`, for tasks that see this machine's
        folders; a backend whose tasks run elsewhere says where it keeps it."""
        return str(folder)

    def root_view(self, root: Root) -> TaskView:
        """How this backend's tasks see `root`, and the engine's access to its files; the root refuses a
        backend that cannot use its kind (Root.refused). By default tasks see it as processes of this
        machine (the fake backend's)."""
        return root.on_host(self.name, staging_base() / f"{self.name}-{os.getpid()}-{id(self):x}")

    def workspace_view(self, workspace: Workspace) -> WorkspaceView:
        """How this backend keeps a run's workspace and where its tasks see it. By default a folder of this
        machine, private to its user, which containers see at KFP's mount path."""
        return FolderWorkspace(workspace)

    @classmethod
    def available(cls) -> bool:
        """Whether this backend can run anything on this machine, found out quickly and without raising:
        `--local` takes Docker when it is available. By default it is."""
        return True

    @abc.abstractmethod
    def prepare(self, run: RunInfo) -> None:
        """Make what the run needs (network, volumes). Idempotent: called again on resume."""

    @abc.abstractmethod
    def submit(self, task: TaskSpec) -> str:
        """Start `task` without waiting for it and return its handle, which is `task.name`.

        Raises PermanentBackendError when the task can never start (image missing, invalid spec) and
        TemporaryBackendError when it may start if submitted again later.
        """

    def adopt(self, task: TaskSpec) -> str | None:
        """Take over `task`, an attempt an engine that stopped had submitted, where the runtime still has
        its container (running or finished), and return its handle as `submit` would; None when there
        is none to take over, and the engine submits a new attempt. The default never finds one."""
        return None

    @abc.abstractmethod
    def poll(self, handles: Sequence[str]) -> dict[str, TaskStatus]:
        """Report the status of every handle given, with one call to the runtime per tick where possible.

        A handle the runtime no longer knows is reported FAILED with reason REASON_LOST.
        """

    @abc.abstractmethod
    def cancel(self, handle: str) -> None:
        """Stop the task, keeping its logs. Idempotent: cancelling a finished or unknown task does nothing.

        The engine cancels a run's tasks from several threads at once, so that a grace period per task
        does not add up; implementations must allow concurrent calls for different handles.
        """

    @abc.abstractmethod
    def cleanup(self, run: RunInfo, keep_failed: bool = False) -> None:
        """Remove what the run left in the runtime (found by its run label), once its logs are kept."""

    def wait(self, timeout: float) -> None:
        """Block until a submitted task may have changed state, or `timeout` seconds passed.

        The engine calls this between polls. Backends that learn of changes (a container exiting) wake it
        at once; the default just sleeps.
        """
        time.sleep(timeout)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release connections."""
