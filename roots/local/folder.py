"""A pipeline root that is a folder of the engine's machine: tasks of this machine read and write it in
place, containers of this machine get it bind-mounted at /flow. Pods of a cluster cannot see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from roots.base import MOUNT_PATH, Root, TaskView
from roots.local.files import LocalRootFiles

if TYPE_CHECKING:
    from backends.base import TaskSpec


@dataclass(frozen=True)
class FolderRoot(Root):
    folder: Path

    kind: ClassVar[str] = "the folder"
    on_this_machine: ClassVar[bool] = True

    @property
    def uri(self) -> str:
        return str(self.folder)

    def made(self) -> FolderRoot:
        self.folder.mkdir(parents=True, exist_ok=True)
        return FolderRoot(self.folder.resolve())

    def files(self) -> LocalRootFiles:
        return LocalRootFiles(self.folder)

    def on_host(self, backend: str, staging: Path) -> TaskView:
        return _FolderView(self.folder, str(self.folder.resolve()), None)

    def in_containers(self, backend: str, staging: Path, folder_mode: int | None) -> TaskView:
        return _FolderView(self.folder, MOUNT_PATH, folder_mode)


class _FolderView(TaskView):
    """The folder itself, seen at `path`: its host path, or the mount point of a container."""

    def __init__(self, folder: Path, path: str, folder_mode: int | None) -> None:
        self.folder, self.path, self.uri = folder, path, path
        self.folder_mode = folder_mode

    def files(self) -> LocalRootFiles:
        return LocalRootFiles(self.folder, task_folder_mode=self.folder_mode)

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def binds(self, task: TaskSpec) -> Mapping[str, str]:
        return {str(self.folder): MOUNT_PATH}
