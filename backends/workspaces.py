"""KFP's pipeline workspace, and how a backend keeps it: where its tasks see it, the engine's access to
its files, and its making and removal, asked of the backend as one view (as a pipeline root's view is)."""

from __future__ import annotations

import abc
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roots.files import RootFiles
from roots.local.files import LocalRootFiles

# Where a task sees its run's workspace in a container: KFP's mount path (backend/src/v2/component).
WORKSPACE_PATH = "/kfp-workspace"


@dataclass(frozen=True)
class Workspace:
    """KFP's pipeline workspace (`dsl.PipelineConfig(workspace=...)`): one volume per run, shared by the
    tasks that use it. A rerun uses the workspace of the run it re-runs, so `owner` names that run."""

    owner: str  # the run whose workspace it is
    host_dir: str  # the folder on this machine, for backends that keep the workspace as one
    size: str  # a Kubernetes quantity, as declared
    # The claim's spec fields the pipeline set (accessModes, storageClassName, volumeMode, selector),
    # checked at load (runner.spec.workspace).
    pvc_patch: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


class WorkspaceView(abc.ABC):
    """A run's workspace as one backend keeps it."""

    def __init__(self, workspace: Workspace, path: str) -> None:
        self.workspace = workspace
        self.path = path  # where tasks see it: `{{$.workspace_path}}`

    @abc.abstractmethod
    def prepare(self) -> None:
        """Make the workspace when it is missing; an existing one (a resumed run's, a rerun's) is kept."""

    @abc.abstractmethod
    def files(self) -> RootFiles:
        """The engine's access to its files, which it fills with the artifacts imported into it
        (`download_to_workspace`)."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Remove the workspace, as Kubeflow removes a run's once the run succeeded. Idempotent."""


class FolderWorkspace(WorkspaceView):
    """The workspace as a folder of this machine, private to its user unless `folder_mode` says otherwise
    (tasks that run as another user), walked without following links."""

    def __init__(
        self, workspace: Workspace, path: str = WORKSPACE_PATH, folder_mode: int | None = None
    ) -> None:
        super().__init__(workspace, path)
        self.folder_mode = folder_mode

    def prepare(self) -> None:
        Path(self.workspace.host_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.folder_mode is not None:
            os.chmod(self.workspace.host_dir, self.folder_mode)

    def files(self) -> RootFiles:
        return LocalRootFiles(Path(self.workspace.host_dir))

    def remove(self) -> None:
        shutil.rmtree(self.workspace.host_dir, ignore_errors=True)
