"""A pipeline root that is a folder on the engine's machine, as the engine reads and prepares it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from roots import beneath
from roots.beneath import RefusedFile, TooLarge
from roots.files import MAX_FOLDER_FILES, Digest, RootFiles, folder_digest

_CHUNK = 1 << 20
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalRootFiles(RootFiles):
    """A root that is a folder on the engine's machine, walked without following links (roots.beneath)."""

    def __init__(self, root: Path, task_folder_mode: int | None = None) -> None:
        """`task_folder_mode`: the mode given to the folders `reset` makes, when tasks that write into
        them run as another user than flow (the umask would otherwise leave them writable only by flow)."""
        self.root = root
        self.task_folder_mode = task_folder_mode

    def read(self, paths: Sequence[str], max_bytes: int | None = None) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for path in paths:
            opened = beneath.open_file(self.root, path)
            if opened is None:
                continue
            fd, info = opened
            try:
                if max_bytes is not None and info.st_size > max_bytes:
                    raise TooLarge(path, info.st_size, max_bytes)
                found[path] = beneath.read_all(fd, max_bytes if max_bytes is not None else -1)
            finally:
                os.close(fd)
        return found

    def read_part(self, path: str, offset: int, size: int) -> bytes:
        opened = beneath.open_file(self.root, path)
        if opened is None:
            return b""
        try:
            return os.pread(opened[0], size, offset)
        finally:
            os.close(opened[0])

    def exists(self, paths: Sequence[str]) -> set[str]:
        found = set()
        for path in paths:
            with contextlib.suppress(RefusedFile):
                if beneath.kind(self.root, path):
                    found.add(path)
        return found

    def digests(self, paths: Sequence[str]) -> dict[str, Digest]:
        found: dict[str, Digest] = {}
        for path in paths:
            opened = beneath.open_file(self.root, path)
            if opened is not None:
                try:
                    found[path] = _fd_digest(opened[0])
                finally:
                    os.close(opened[0])
                continue
            folder = beneath.open_folder(self.root, path)
            if folder is None:
                continue
            try:
                size, pairs = 0, []
                for relative, fd, _ in beneath.regular_files(folder, path, MAX_FOLDER_FILES):
                    child_size, child_sha = _fd_digest(fd)
                    size += child_size
                    pairs.append((relative, child_sha))
            finally:
                os.close(folder)
            found[path] = (size, folder_digest(pairs))
        return found

    def reset(self, folder: str, create: bool) -> None:
        names = beneath.parts(folder)
        parent = self._folder("/".join(names[:-1]))
        try:
            try:
                info = os.stat(names[-1], dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                info = None
            if info is not None and stat.S_ISDIR(info.st_mode):
                shutil.rmtree(names[-1], dir_fd=parent)  # removes links inside, never what they point at
            elif info is not None:
                os.unlink(names[-1], dir_fd=parent)
            if create:
                os.mkdir(names[-1], dir_fd=parent)
                if self.task_folder_mode is not None:
                    made = os.open(names[-1], beneath.FOLDER_FLAGS, dir_fd=parent)
                    try:
                        os.fchmod(made, self.task_folder_mode)
                    finally:
                        os.close(made)
        finally:
            os.close(parent)

    def make_folders(self, folders: Sequence[str]) -> None:
        for folder in folders:
            os.close(self._folder(folder, self.task_folder_mode))

    def write(self, path: str, data: bytes) -> None:
        names = beneath.parts(path)
        parent = self._folder("/".join(names[:-1]))
        temporary = f".{names[-1]}.{secrets.token_hex(8)}"
        try:
            fd = os.open(temporary, _NEW_FILE_FLAGS | os.O_EXCL, 0o644, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, names[-1], src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=parent)
                raise
        finally:
            os.close(parent)

    def copy_in(self, source: Path, path: str) -> None:
        names = beneath.parts(path)
        parent = self._folder("/".join(names[:-1]))
        try:
            _copy_into(parent, names[-1], source)
        finally:
            os.close(parent)

    def copy_out(self, folder: str, target: Path) -> int:
        opened = beneath.open_folder(self.root, folder)
        if opened is None:
            return 0
        count = 0
        try:
            for relative, fd, info in beneath.regular_files(opened, folder, sys.maxsize):
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with os.fdopen(os.dup(fd), "rb") as source, destination.open("wb") as copy:
                    shutil.copyfileobj(source, copy)
                destination.chmod(stat.S_IMODE(info.st_mode) & 0o755)
                count += 1
        finally:
            os.close(opened)
        return count

    def _folder(self, relative: str, mode: int | None = None) -> int:
        """A descriptor of the folder, made where missing (and given `mode`); RefusedFile for a link on the
        way."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = beneath.open_folder(self.root, relative, create=True, mode=mode)
        if fd is None:
            raise RefusedFile(f"{relative} vanished while it was made")
        return fd


def _fd_digest(fd: int) -> Digest:
    size, sha, offset = 0, hashlib.sha256(), 0
    while chunk := os.pread(fd, _CHUNK, offset):
        sha.update(chunk)
        offset += len(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


def _copy_into(folder: int, name: str, source: Path) -> None:
    """Copy the file or folder `source` to `name` in the open `folder`, through descriptors: a link a task
    left at the target is refused, not written through. Links inside `source` are copied as what they
    point at, as shutil's copy does."""
    if source.is_dir():
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, dir_fd=folder)
        inner = os.open(name, beneath.FOLDER_FLAGS, dir_fd=folder)
        try:
            for child in sorted(source.iterdir()):
                _copy_into(inner, child.name, child)
        finally:
            os.close(inner)
        return
    with source.open("rb") as original:
        fd = os.open(name, _NEW_FILE_FLAGS | os.O_TRUNC, stat.S_IMODE(source.stat().st_mode), dir_fd=folder)
        with os.fdopen(fd, "wb") as copy:
            shutil.copyfileobj(original, copy)
