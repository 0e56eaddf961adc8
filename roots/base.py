"""What every kind of pipeline root supplies: its files for the engine, and how a backend's tasks see it.

A backend asks the run's Root for a TaskView for the place its tasks run (`on_host`, `in_containers`,
`in_pods`); a kind of root that cannot serve that place refuses, here, in `Root.refused`. The engine and
the backends then use the view and never test which kind of root it is.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from backends.base import PermanentBackendError

if TYPE_CHECKING:
    from backends.base import TaskSpec
    from backends.k8s import KubernetesBackend
    from roots.files import RootFiles

# Where a mounted root appears in a task's container or pod (DESIGN.md section 5).
MOUNT_PATH = "/flow"


class TaskView(abc.ABC):
    """How one backend's tasks see one root. The backend calls the hooks of the place its tasks run:
    `stage_in`, `stage_out` and `release` around a task of this machine, `binds` for a container's
    mounts, `add_to_pod` for a pod; the others do nothing."""

    path: str  # where tasks see the root
    uri: str  # the root's URI in a task's ExecutorInput: `path`, or an object store's own URI mapped to it
    copies: bool = (
        False  # tasks get copies of the files TaskSpec.root_inputs names, and give root_outputs back
    )

    @abc.abstractmethod
    def files(self) -> RootFiles:
        """The engine's access to the root's files."""

    def prepare(self) -> None:
        """Make what tasks need of the root (its folder, its volume claim). Idempotent."""

    def stage_in(self, task: TaskSpec) -> None:
        """Before `task` starts: copy its inputs where it reads them."""

    def stage_out(self, task: TaskSpec) -> None:
        """Once `task` succeeded: copy its outputs back into the root; BackendError when that fails."""

    def release(self, task: TaskSpec) -> None:
        """`task` ended: what was staged for it alone goes."""

    def binds(self, task: TaskSpec) -> Mapping[str, str]:
        """Folders of this machine to mount read-write in `task`'s container: host path -> container path."""
        return {}

    def add_to_pod(self, pod: dict[str, Any], task: TaskSpec) -> None:
        """Make the pod manifest of `task` see the root (mount it, or add the containers that stage it)."""

    def cleanup(self, run_id: str) -> None:
        """The run ended: what was staged for it goes."""

    def close(self) -> None:
        """The backend closes: what was staged through this view goes."""


class Root(abc.ABC):
    """A run's pipeline root, of one kind: where the run's artifacts live."""

    kind: ClassVar[str]  # the kind as messages name it: "the folder", "the volume claim"
    on_this_machine: ClassVar[bool] = False  # a folder of the engine's machine

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """The root as the store records it."""

    def made(self) -> Root:
        """The root ready for a new run, as the store records it (a folder made, a bucket that answered)."""
        return self

    def files(self) -> RootFiles | None:
        """The root's files, reached from this machine without a backend; None where only the backend that
        ran the run reaches them (a volume claim in a cluster)."""
        return None

    def backend_options(self) -> dict[str, Any]:
        """The backend options that reach this root again (for resume and cancel)."""
        return {}

    def on_host(self, backend: str, staging: Path) -> TaskView:
        """Tasks that are processes of this machine, run as flow's user. `staging`: a folder of the
        backend's own for files copied out of the root."""
        raise self.refused(backend, "processes of this machine")

    def in_containers(self, backend: str, staging: Path, folder_mode: int | None) -> TaskView:
        """Tasks that are containers of this machine. `staging`: a folder of the backend's own for files
        copied out of the root; `folder_mode`: the mode of the folders tasks write, for tasks that run as
        another user than flow."""
        raise self.refused(backend, "containers of this machine")

    def in_pods(self, backend: str, cluster: KubernetesBackend) -> TaskView:
        """Tasks that are pods of the backend's cluster."""
        raise self.refused(backend, "pods of a cluster")

    def refused(self, backend: str, tasks: str) -> PermanentBackendError:
        """What a backend that cannot use this kind of root answers (the one place that says so); `tasks`:
        what its tasks are."""
        return PermanentBackendError(
            f"the {backend} backend cannot keep its pipeline root in {self.kind} {self.uri}: its tasks are "
            f"{tasks}, which do not see it"
        )
