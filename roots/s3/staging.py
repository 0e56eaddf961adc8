"""Staging an object-store root's files through a folder of the engine's machine, which stands for a
task's /s3: the process backend's tasks read it at its host path, Docker mounts it at /s3.

In: each input artifact is downloaded to `<folder>/<bucket>/<key>`, and the task's output folder is made
empty. Out, once the task succeeded: its output folder is uploaded back, file by file.
"""

from __future__ import annotations

import abc
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from backends.base import BackendError, PermanentBackendError, TaskSpec
from roots.base import TaskView
from roots.beneath import RefusedFile
from roots.s3 import LOCAL_MOUNT, S3Root

if TYPE_CHECKING:
    from roots.s3.files import S3RootFiles


class _Staged(TaskView):
    """Copies a task's artifacts between the root and a folder of this machine standing for its /s3."""

    copies = True

    def __init__(self, root: S3Root, folder_mode: int | None) -> None:
        """`folder_mode`: given to the output folder, for tasks that run as another user than flow."""
        self.root = root
        self.folder_mode = folder_mode
        self._files: S3RootFiles | None = None

    def files(self) -> S3RootFiles:
        if self._files is None:
            self._files = self.root.files()
        return self._files

    @abc.abstractmethod
    def folder(self, task: TaskSpec) -> Path:
        """The folder that stands for `task`'s /s3."""

    def stage_in(self, task: TaskSpec) -> None:
        """Download the task's inputs under its folder and leave its output folder there, empty."""
        folder = self.folder(task)
        base = folder / self.root.relative_path
        files = self.files()
        outputs = base / task.root_outputs
        shutil.rmtree(outputs, ignore_errors=True)
        try:
            for relative in task.root_inputs:
                if not files.download(relative, base / relative):
                    raise PermanentBackendError(f"input artifact {self.root.uri}/{relative} is missing")
        except BackendError as exc:
            raise type(exc)(f"staging the task's inputs in: {exc}") from exc
        outputs.mkdir(parents=True, exist_ok=True)
        if self.folder_mode is not None:
            for made in (outputs, *outputs.parents):
                if made == folder or folder not in made.parents:
                    break
                made.chmod(self.folder_mode)

    def stage_out(self, task: TaskSpec) -> None:
        """Upload what the task left in its output folder; BackendError when that fails. The task could
        write anywhere in its folder: its output folder is reached without following a link."""
        relative = f"{self.root.relative_path}/{task.root_outputs}"
        try:
            self.files().upload_beneath(self.folder(task), relative, task.root_outputs)
        except RefusedFile as exc:
            raise PermanentBackendError(f"staging the task's outputs out: {exc}") from exc
        except BackendError as exc:
            raise type(exc)(f"staging the task's outputs out: {exc}") from exc


class HostView(_Staged):
    """Tasks of this machine read and write the staged files at their host path, in one folder of the
    backend's for all its tasks (it removes its own folder when it closes, no other engine's)."""

    def __init__(self, root: S3Root, staging: Path) -> None:
        super().__init__(root, None)
        self.staging = staging
        self.path = self.uri = str(staging / root.relative_path)
        self._runs: set[str] = set()  # runs with files staged here

    def folder(self, task: TaskSpec) -> Path:
        return self.staging

    def stage_in(self, task: TaskSpec) -> None:
        self._runs.add(task.run_id)
        super().stage_in(task)

    def cleanup(self, run_id: str) -> None:
        # With no other run going on here, the inputs staged from earlier runs' folders go too.
        self._runs.discard(run_id)
        shutil.rmtree(Path(self.path) / run_id if self._runs else self.staging, ignore_errors=True)

    def close(self) -> None:
        # Staged inputs of every run (an earlier run's cached outputs among them) go with the backend.
        shutil.rmtree(self.staging, ignore_errors=True)


class ContainerView(_Staged):
    """Each container gets a folder of its own mounted at /s3, gone when the task ends."""

    def __init__(self, root: S3Root, staging: Path, folder_mode: int | None) -> None:
        super().__init__(root, folder_mode)
        self.staging = staging
        self.path, self.uri = root.local_path, root.uri  # kfp maps the URI to the path

    def folder(self, task: TaskSpec) -> Path:
        return self.staging / task.run_id / task.name

    def stage_in(self, task: TaskSpec) -> None:
        shutil.rmtree(self.folder(task), ignore_errors=True)
        super().stage_in(task)

    def binds(self, task: TaskSpec) -> Mapping[str, str]:
        return {str(self.folder(task)): LOCAL_MOUNT}

    def release(self, task: TaskSpec) -> None:
        shutil.rmtree(self.folder(task), ignore_errors=True)

    def cleanup(self, run_id: str) -> None:
        # The run's tasks' folders, this engine's or one that died.
        shutil.rmtree(self.staging / run_id, ignore_errors=True)
