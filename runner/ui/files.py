"""Reading the files of a run's pipeline root, wherever its backend keeps it.

A backend that keeps the default `Backend.files` has a local folder for a root: it is read directly, without
connecting to the backend (a Docker run's artifacts stay readable when Docker is down). Any other backend
(a cluster volume) is created once per root and kept until the UI stops, because reaching its root may
start a helper pod.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from backends.base import Backend, is_s3_root
from backends.rootfiles import LocalRootFiles, RootFiles
from runner.config import load_config
from runner.plugins import backend_class
from runner.selection import select_backend_for_root
from runner.store import RunRecord
from runner.ui.security import PathRefused, resolve_within


@dataclass
class Entry:
    """One file or folder under a root: for a local root its real path, checked to stay in the root."""

    relative: str
    local: Path | None


class RootReader:
    """The pipeline roots of the runs the UI shows, and the backends kept open to reach remote ones."""

    def __init__(self) -> None:
        self._backends: dict[tuple[str, str], Backend] = {}
        self._stores: dict[str, RootFiles] = {}
        self._lock = threading.Lock()

    def files(self, record: RunRecord) -> RootFiles:
        if is_s3_root(record.root):  # any machine with the store's keys reads it, no backend needed
            return self._object_store(record.root)
        if backend_class(record.backend).files is Backend.files:
            return LocalRootFiles(Path(record.root))
        key = (record.backend, record.root)
        with self._lock:
            if key not in self._backends:
                # flow.yaml's image map and pull policy serve a cluster's volume helper, as for `flow run`.
                config = load_config()
                self._backends[key] = select_backend_for_root(
                    record.backend,
                    record.root,
                    backend_options={"image_map": config.image_map, "pull": config.pull},
                )
            backend = self._backends[key]
        return backend.files(record.root)

    def _object_store(self, root: str) -> RootFiles:
        with self._lock:
            if root not in self._stores:
                from backends.s3.files import S3RootFiles

                self._stores[root] = S3RootFiles(root)
            return self._stores[root]

    def entry(self, record: RunRecord, relative: str) -> Entry:
        """`relative` (already checked to be in the run's folder) as a local path where the root is local."""
        files = self.files(record)
        if isinstance(files, LocalRootFiles):
            return Entry(relative, resolve_within(files.root, relative))
        return Entry(relative, None)

    def read(self, record: RunRecord, relative: str, limit: int | None = None) -> tuple[bytes, int]:
        """A file's first `limit` bytes (all without a limit) and its size; PathRefused for a folder or
        nothing."""
        entry = self.entry(record, relative)
        if entry.local is None:
            found = self.files(record).read([relative])
            if relative not in found:
                raise PathRefused(f"{relative!r} is not a file")
            data = found[relative]
            return (data if limit is None else data[:limit]), len(data)
        if not entry.local.is_file():
            raise PathRefused(f"{relative!r} is not a file")
        with entry.local.open("rb") as handle:
            data = handle.read() if limit is None else handle.read(limit)
        return data, entry.local.stat().st_size

    def folder(self, record: RunRecord, relative: str, limit: int) -> list[tuple[str, int]] | None:
        """The files in a folder of a local root (relative to the root, with sizes), at most `limit`;
        None when `relative` is no local folder."""
        entry = self.entry(record, relative)
        if entry.local is None or not entry.local.is_dir():
            return None
        listed = []
        for child in sorted(entry.local.rglob("*")):
            if child.is_file() and not child.is_symlink():
                listed.append(
                    (f"{relative}/{child.relative_to(entry.local).as_posix()}", child.stat().st_size)
                )
                if len(listed) == limit:
                    break
        return listed

    def close(self) -> None:
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()
