"""Reading the files of a run's pipeline root, wherever its backend keeps it.

A backend that keeps the default `Backend.files` has a local folder for a root: it is read directly, without
connecting to the backend (a Docker run's artifacts stay readable when Docker is down). Any other backend
(a cluster volume) is created once per root and kept until the UI stops, because reaching its root may
start a helper pod.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
from pathlib import Path

from backends.base import Backend
from roots import beneath, kinds
from roots.beneath import RefusedFile
from roots.files import RootFiles
from roots.local.files import LocalRootFiles
from runner.config import load_config
from runner.selection import select_backend_for_root
from runner.store import RunRecord
from runner.ui.security import PathRefused

_REMOTE_READ_BYTES = 256 << 20  # a file read whole off a root elsewhere (a cluster volume) is at most this


class RootReader:
    """The pipeline roots of the runs the UI shows, and the backends kept open to reach remote ones."""

    def __init__(self) -> None:
        self._backends: dict[tuple[str, str], Backend] = {}
        self._roots: dict[str, RootFiles | None] = {}  # the roots reached without a backend
        self._lock = threading.Lock()

    def files(self, record: RunRecord) -> RootFiles:
        # A folder, or an object store any machine with its keys reads, needs no backend.
        with self._lock:
            if record.root not in self._roots:
                self._roots[record.root] = kinds.parse(record.root).files()
            found = self._roots[record.root]
        if found is not None:
            return found
        key = (record.backend, record.root)
        with self._lock:
            if key not in self._backends:
                # flow.yaml's image map and pull policy serve a cluster's volume helper, as for `flow run`.
                config = load_config()
                self._backends[key] = select_backend_for_root(
                    record.backend,
                    record.root,
                    backend_options=config.backend,
                )
            backend = self._backends[key]
        return kinds.view(backend, record.root).files()

    def local_root(self, record: RunRecord) -> Path | None:
        files = self.files(record)
        return files.root if isinstance(files, LocalRootFiles) else None

    def open_local(self, record: RunRecord, relative: str) -> tuple[int, os.stat_result] | None:
        """A descriptor of the regular file `relative` (already checked to be in the run's folder) with its
        status, where the root is local; None for a root elsewhere. PathRefused for a folder, nothing, or
        a symbolic link on the way (a task may have planted one: roots.beneath)."""
        root = self.local_root(record)
        if root is None:
            return None
        try:
            opened = beneath.open_file(root, relative)
        except RefusedFile as exc:
            raise PathRefused(str(exc)) from None
        if opened is None:
            raise PathRefused(f"{relative!r} is not a file")
        return opened

    def read(self, record: RunRecord, relative: str, limit: int | None = None) -> tuple[bytes, int]:
        """A file's first `limit` bytes (all without a limit) and its size; PathRefused for a folder, nothing
        or a link."""
        opened = self.open_local(record, relative)
        if opened is None:
            try:
                found = self.files(record).read([relative], max_bytes=_REMOTE_READ_BYTES)
            except RefusedFile as exc:
                raise PathRefused(str(exc)) from None
            if relative not in found:
                raise PathRefused(f"{relative!r} is not a file")
            data = found[relative]
            return (data if limit is None else data[:limit]), len(data)
        fd, info = opened
        try:
            return beneath.read_all(fd, -1 if limit is None else limit), info.st_size
        finally:
            os.close(fd)

    def folder(
        self, record: RunRecord, relative: str, limit: int
    ) -> tuple[list[tuple[str, int]], bool] | None:
        """The first `limit` regular files the walk of a folder of a local root meets (relative to the root,
        with sizes, in name order), and whether it holds more; None when `relative` is no local folder.
        The walk stops there, whatever the folder holds. Links are left out, never followed."""
        root = self.local_root(record)
        if root is None:
            return None
        try:
            folder = beneath.open_folder(root, relative)
        except RefusedFile as exc:
            raise PathRefused(str(exc)) from None
        if folder is None:
            return None
        try:
            with contextlib.closing(beneath.regular_files(folder, relative, sys.maxsize)) as walk:
                met = itertools.islice(walk, limit + 1)
                listed = [(f"{relative}/{name}", info.st_size) for name, _, info in met]
        except RefusedFile as exc:
            raise PathRefused(str(exc)) from None
        finally:
            os.close(folder)
        return sorted(listed[:limit]), len(listed) > limit

    def close(self) -> None:
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()
