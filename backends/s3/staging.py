"""Staging an object-store root's files through a folder on the engine's machine, which stands for a
task's /s3 (the process backend's tasks read it at its host path, Docker mounts it at /s3).

In: each input artifact is downloaded to `<folder>/<bucket>/<key>`, and the task's output folder is made
empty. Out, once the task succeeded: its output folder is uploaded back, file by file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from backends.base import BackendError, PermanentBackendError, Staging
from backends.beneath import RefusedFile
from backends.s3.roots import S3Root

if TYPE_CHECKING:
    from backends.s3.files import S3RootFiles


def staging_base() -> Path:
    """The engine machine's folder for staged files: one per user, under the temporary folder."""
    return Path(tempfile.gettempdir()) / f"flow-s3-{os.getuid()}"


def root_folder(folder: Path, root: str) -> Path:
    """Where the root `s3://bucket/prefix` lies in a folder that stands for /s3."""
    return folder / S3Root.parse(root).relative_path


class HostStaging:
    """Copies a task's artifacts between its object-store root and a local folder standing for /s3."""

    def __init__(self, folder_mode: int | None = None) -> None:
        """`folder_mode`: given to the output folder, for tasks that run as another user than flow."""
        self.folder_mode = folder_mode
        self._files: dict[str, S3RootFiles] = {}

    def files(self, root: str) -> S3RootFiles:
        if root not in self._files:
            from backends.s3.files import S3RootFiles  # boto3 is loaded only for an object-store root

            self._files[root] = S3RootFiles(root)
        return self._files[root]

    def stage_in(self, staging: Staging, folder: Path) -> None:
        """Download the task's inputs under `folder` and leave its output folder there, empty."""
        base = root_folder(folder, staging.root)
        files = self.files(staging.root)
        outputs = base / staging.outputs
        shutil.rmtree(outputs, ignore_errors=True)
        try:
            for relative in staging.inputs:
                if not files.download(relative, base / relative):
                    raise PermanentBackendError(f"input artifact {staging.root}/{relative} is missing")
        except BackendError as exc:
            raise type(exc)(f"staging the task's inputs in: {exc}") from exc
        outputs.mkdir(parents=True, exist_ok=True)
        if self.folder_mode is not None:
            for made in (outputs, *outputs.parents):
                if made == folder or folder not in made.parents:
                    break
                made.chmod(self.folder_mode)

    def stage_out(self, staging: Staging, folder: Path) -> None:
        """Upload what the task left in its output folder; BackendError when that fails. The task could
        write anywhere in `folder`: its output folder is reached without following a link."""
        relative = f"{S3Root.parse(staging.root).relative_path}/{staging.outputs}"
        try:
            self.files(staging.root).upload_beneath(folder, relative, staging.outputs)
        except RefusedFile as exc:
            raise PermanentBackendError(f"staging the task's outputs out: {exc}") from exc
        except BackendError as exc:
            raise type(exc)(f"staging the task's outputs out: {exc}") from exc
