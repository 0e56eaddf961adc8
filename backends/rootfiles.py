"""A run's pipeline root as the engine reads and prepares it, wherever the backend keeps it.

A local folder for the process and Docker backends; a volume the engine reaches only through the cluster
for Kubernetes. Paths are POSIX paths relative to the root, made of names the engine checked safe.
"""

from __future__ import annotations

import abc
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

Digest = tuple[int, str]  # size in bytes, sha256 hex


class RootFiles(abc.ABC):
    """The few file operations the engine needs on a pipeline root, batched where a task needs several."""

    @abc.abstractmethod
    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        """The content of each path that is a file; paths that are not are left out."""

    @abc.abstractmethod
    def exists(self, paths: Sequence[str]) -> set[str]:
        """The paths that exist (file or folder)."""

    @abc.abstractmethod
    def digests(self, paths: Sequence[str]) -> dict[str, Digest]:
        """Size and content digest of each existing path, a folder's computed by `folder_digest`."""

    @abc.abstractmethod
    def reset(self, folder: str, create: bool) -> None:
        """Remove `folder` and everything in it if it exists; with `create`, leave it there empty."""

    @abc.abstractmethod
    def make_folders(self, folders: Sequence[str]) -> None:
        """Make each folder (and its parents) where missing, writable by tasks running as any user."""

    @abc.abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Write a file so readers see either nothing or all of it, creating its folder."""

    @abc.abstractmethod
    def copy_in(self, source: Path, path: str) -> None:
        """Copy a file or folder of the engine's machine to `path` under the root."""

    @abc.abstractmethod
    def copy_out(self, folder: str, target: Path) -> int:
        """Copy what is in `folder` under the root into the local folder `target`; the number of files."""


def file_digest(chunks: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()


def folder_digest(files: Iterable[tuple[str, str]]) -> str:
    """A folder's digest from (relative POSIX path, file sha256) pairs, taken in byte order of the path.

    Byte order (what `LC_ALL=C sort` gives) lets a shell in a helper container compute the same value.
    """
    sha = hashlib.sha256()
    for relative, digest in sorted(files, key=lambda pair: pair[0].encode()):
        sha.update(f"{relative}\0{digest}\n".encode())
    return sha.hexdigest()


class LocalRootFiles(RootFiles):
    """A root that is a folder on the engine's machine."""

    def __init__(self, root: Path, task_folder_mode: int | None = None) -> None:
        """`task_folder_mode`: the mode given to the folders `reset` makes, when tasks that write into
        them run as another user than flow (the umask would otherwise leave them writable only by flow)."""
        self.root = root
        self.task_folder_mode = task_folder_mode

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for path in paths:
            full = os.path.join(self.root, path)
            if os.path.isfile(full):
                with open(full, "rb") as handle:
                    found[path] = handle.read()
        return found

    def exists(self, paths: Sequence[str]) -> set[str]:
        return {path for path in paths if os.path.exists(os.path.join(self.root, path))}

    def digests(self, paths: Sequence[str]) -> dict[str, Digest]:
        found: dict[str, Digest] = {}
        for path in paths:
            full = self.root / path
            if full.is_file():
                found[path] = _local_file_digest(full)
            elif full.is_dir():
                size, pairs = 0, []
                for child in (p for p in full.rglob("*") if p.is_file()):
                    child_size, child_sha = _local_file_digest(child)
                    size += child_size
                    pairs.append((child.relative_to(full).as_posix(), child_sha))
                found[path] = (size, folder_digest(pairs))
        return found

    def reset(self, folder: str, create: bool) -> None:
        full = os.path.join(self.root, folder)
        if os.path.exists(full):
            shutil.rmtree(full)
        if create:
            os.makedirs(full, exist_ok=True)
            if self.task_folder_mode is not None:
                os.chmod(full, self.task_folder_mode)

    def make_folders(self, folders: Sequence[str]) -> None:
        for folder in folders:
            full = os.path.join(self.root, folder)
            os.makedirs(full, exist_ok=True)
            if self.task_folder_mode is not None:
                os.chmod(full, self.task_folder_mode)

    def write(self, path: str, data: bytes) -> None:
        full = self.root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=f".{full.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, full)
        except BaseException:
            os.unlink(tmp)
            raise

    def copy_in(self, source: Path, path: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)

    def copy_out(self, folder: str, target: Path) -> int:
        source = self.root / folder
        if not source.is_dir():
            return 0
        shutil.copytree(source, target, dirs_exist_ok=True)
        return sum(1 for p in source.rglob("*") if p.is_file())


def _local_file_digest(path: Path) -> Digest:
    with path.open("rb") as handle:
        return path.stat().st_size, file_digest(iter(lambda: handle.read(1 << 20), b""))
