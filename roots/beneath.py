"""Files under a local folder, opened without ever following a symbolic link.

A task writes into the pipeline root (Docker bind-mounts it), so anything below the root may be a link a
hostile task planted: to a host file, to /proc/self/environ, to a folder of the host. The engine walks each
path one name at a time from the root's own descriptor, each name opened relative to its folder with
O_NOFOLLOW, and checks what it opened: a link anywhere on the way is refused, and what is read must be a
regular file. Opening by descriptor leaves no window between a check and the use a task could race.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Generator
from pathlib import Path

FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO a task left in place of a file must not hang the engine.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_DEPTH = 64  # folders nested deeper in one output are refused (each level holds a descriptor)


class RefusedFile(Exception):
    """A path under a root that is a symbolic link, not a regular file or folder, or over a limit."""


class TooLarge(RefusedFile):
    """A file over the size a reader asked for at most."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"{path} is {size} bytes, over the limit of {limit}")
        self.path, self.size, self.limit = path, size, limit


def parts(relative: str) -> list[str]:
    names = [name for name in relative.split("/") if name not in ("", ".")]
    if ".." in names:
        raise RefusedFile(f"{relative}: '..' is not allowed")
    return names


def open_folder(root: Path, relative: str, *, create: bool = False, mode: int | None = None) -> int | None:
    """A descriptor of the folder `root/relative` (the root itself may be reached through links, it is the
    user's), or None when it is missing. With `create`, missing folders are made, and the last one is given
    `mode`."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    walked = ""
    try:
        for name in parts(relative):
            walked = f"{walked}/{name}" if walked else name
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_fd=fd)
            child = _open_at(fd, name, FOLDER_FLAGS, walked)
            os.close(fd)
            fd = -1
            if child is None:
                return None
            fd = child
        if create and mode is not None:
            os.fchmod(fd, mode)  # through the descriptor: never a link's target
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


def open_file(root: Path, relative: str) -> tuple[int, os.stat_result] | None:
    """A descriptor of the regular file `root/relative` and its status; None when nothing is there or it
    is a folder; RefusedFile for a link on the way or anything else that is no regular file."""
    names = parts(relative)
    if not names:
        return None
    folder = open_folder(root, "/".join(names[:-1]))
    if folder is None:
        return None
    try:
        return open_file_at(folder, names[-1], relative)
    finally:
        os.close(folder)


def open_file_at(folder: int, name: str, shown: str) -> tuple[int, os.stat_result] | None:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        if exc.errno == errno.ELOOP:
            raise RefusedFile(f"{shown} is a symbolic link") from None
        raise
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return fd, info
    os.close(fd)
    if stat.S_ISDIR(info.st_mode):
        return None
    raise RefusedFile(f"{shown} is not a regular file")


def kind(root: Path, relative: str) -> str:
    """ "file", "folder" or "" (nothing there) for `root/relative`; RefusedFile for a link on the way or
    anything else."""
    names = parts(relative)
    folder = open_folder(root, "/".join(names[:-1])) if names else None
    if folder is None:
        return "folder" if not names else ""
    try:
        info = os.stat(names[-1], dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return ""
    finally:
        os.close(folder)
    if stat.S_ISLNK(info.st_mode):
        raise RefusedFile(f"{relative} is a symbolic link")
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if stat.S_ISREG(info.st_mode):
        return "file"
    raise RefusedFile(f"{relative} is not a regular file")


def read_all(fd: int, size: int) -> bytes:
    with os.fdopen(os.dup(fd), "rb") as handle:
        return handle.read(size)


def regular_files(
    folder: int, shown: str, limit: int
) -> Generator[tuple[str, int, os.stat_result], None, None]:
    """(path relative to the folder, descriptor, status) of each regular file under the open `folder`, the
    descriptor valid until the next item. Links, devices and pipes are left out, never followed; more than
    `limit` files, or folders nested too deep, are refused. Folders are read as the walk goes, depth first:
    a consumer that stops early (a preview of a huge folder) has read no further."""
    count = 0
    # One entry per open folder on the way down: its prefix, descriptor, and its entries not read yet.
    stack: list[tuple[str, int, os._ScandirIterator[str]]] = []

    def enter(prefix: str, fd: int) -> None:
        try:
            stack.append((prefix, fd, os.scandir(fd)))
        except BaseException:
            os.close(fd)
            raise

    try:
        enter("", os.dup(folder))
        while stack:
            prefix, current, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                entries.close()
                os.close(current)
            elif entry.is_dir(follow_symlinks=False):
                if len(stack) >= MAX_DEPTH:
                    raise RefusedFile(f"{shown} nests folders more than {MAX_DEPTH} deep")
                child = _open_at(current, entry.name, FOLDER_FLAGS, entry.name, links_refused=False)
                if child is not None:
                    enter(f"{prefix}{entry.name}/", child)
            elif (opened := _regular_at(current, entry.name)) is not None:
                count += 1
                try:
                    if count > limit:
                        raise RefusedFile(f"{shown} holds more than {limit} files")
                    yield prefix + entry.name, opened[0], opened[1]
                finally:
                    os.close(opened[0])
    finally:
        for _, fd, entries in stack:
            entries.close()
            os.close(fd)


def _regular_at(folder: int, name: str) -> tuple[int, os.stat_result] | None:
    """A regular file in the folder, opened; None for anything else (a link, a pipe, gone meanwhile)."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO, errno.EACCES):
            return None
        raise
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return fd, info
    os.close(fd)
    return None


def _open_at(folder: int, name: str, flags: int, shown: str, *, links_refused: bool = True) -> int | None:
    """The folder `name` in `folder`, opened; None when it is missing or no folder, RefusedFile for a link
    (None with `links_refused` off)."""
    try:
        return os.open(name, flags, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):  # a link opened as a folder: ENOTDIR on Linux
            raise
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None
    if is_link and links_refused:
        raise RefusedFile(f"{shown} is a symbolic link")
    return None
