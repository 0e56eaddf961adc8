"""A pipeline root's files as the engine reads and prepares them, whatever kind of root it is.

Each kind of root (roots.local, roots.pvc, roots.s3) implements RootFiles. Paths are POSIX paths relative
to the root, made of names the engine checked safe.
"""

from __future__ import annotations

import abc
import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

Digest = tuple[int, str]  # size in bytes, sha256 hex
MAX_FOLDER_FILES = 100_000  # files an output folder may hold to be digested or previewed


def staging_base() -> Path:
    """This machine's folder for files staged out of roots for tasks: one per user, in the temporary folder;
    each backend keeps its own folder in it."""
    return Path(tempfile.gettempdir()) / f"flow-s3-{os.getuid()}"


class RootFiles(abc.ABC):
    """The few file operations the engine needs on a pipeline root, batched where a task needs several.

    What tasks wrote is read without following symbolic links: a link, or anything else that is no regular
    file or folder, raises RefusedFile where it is asked for and is left out inside a folder."""

    @abc.abstractmethod
    def read(self, paths: Sequence[str], max_bytes: int | None = None) -> dict[str, bytes]:
        """The content of each path that is a file; paths that are not are left out. A file over
        `max_bytes` raises RefusedFile."""

    @abc.abstractmethod
    def read_part(self, path: str, offset: int, size: int) -> bytes:
        """At most `size` bytes of a file from `offset` on; nothing when it is not there."""

    @abc.abstractmethod
    def exists(self, paths: Sequence[str]) -> set[str]:
        """The paths that exist (file or folder)."""

    @abc.abstractmethod
    def digests(self, paths: Sequence[str]) -> dict[str, Digest]:
        """Size and content digest of each existing path, a folder's computed by `folder_digest` (at most
        MAX_FOLDER_FILES files, else RefusedFile)."""

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
        """Copy the regular files in `folder` under the root into the local folder `target`; their number."""


def folder_digest(files: Iterable[tuple[str, str]]) -> str:
    """A folder's digest from (relative POSIX path, file sha256) pairs, taken in byte order of the path.

    Byte order (what `LC_ALL=C sort` gives) lets a shell in a helper container compute the same value.
    """
    sha = hashlib.sha256()
    for relative, digest in sorted(files, key=lambda pair: pair[0].encode()):
        sha.update(f"{relative}\0{digest}\n".encode())
    return sha.hexdigest()
