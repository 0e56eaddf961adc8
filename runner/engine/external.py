"""Imported artifacts outside the pipeline root, made readable to the tasks that consume them.

A file or folder of the engine's machine is read in place where the backend's tasks can: a local process
sees it at its path, a Docker container gets it mounted read-only at that path, so the task's URI and path
are the ones imported. Elsewhere (pods), and for an s3:// object (read with the engine's S3 client, on
every backend), flow copies it once per run into the run's folder of the root, under `.imports/`, and the
task reads that copy as any artifact of the root. Only what the user running flow may read is read: a
container's daemon, which may read any file, mounts nothing that user could not open. A path that names
nothing, or a URI of a scheme flow cannot read, fails the consuming task with one line naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from backends.base import HOST_FILES_MOUNTED, HOST_FILES_VISIBLE, BackendError
from backends.beneath import RefusedFile
from backends.rootfiles import RootFiles
from runner import artifacts
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError

IMPORTS = ".imports"  # in the run's folder; no task is named so (task names are never hidden)
S3_SCHEME = "s3://"


class UnreadableImportError(FlowError):
    """A consumed imported artifact names nothing, or nothing flow can read."""


class ExternalArtifacts:
    """A run's imported artifacts outside its root, as its tasks read them, each worked out (and copied)
    once per run."""

    def __init__(self, files: RootFiles, run_id: str, host_files: str) -> None:
        """`host_files`: how the backend's tasks read files of this machine (Backend.host_files)."""
        self.files, self.run_id, self.host_files = files, run_id, host_files
        self._task_uris: dict[str, str] = {}  # URI -> the path a task reads, or its copy relative to the root

    def for_task(self, node: Node) -> dict[str, ArtifactRef]:
        """The node's input artifacts outside the root, by URI, as its attempt sees them: a local path read
        in place, or a copy relative to the root. Raises UnreadableImportError for one it cannot read."""
        reached: dict[str, ArtifactRef] = {}
        for refs in node.artifacts.values():
            for ref in refs:
                if artifacts.is_external(ref.uri) and ref.uri not in reached:
                    if ref.uri not in self._task_uris:
                        self._task_uris[ref.uri] = self._task_uri(ref.uri, node.task.where)
                    reached[ref.uri] = dataclasses.replace(ref, uri=self._task_uris[ref.uri])
        return reached

    def _task_uri(self, uri: str, where: str) -> str:
        path = artifacts.local_file(uri)
        if path is not None:
            if not Path(path).name:
                raise UnreadableImportError(
                    f"cannot read the imported artifact {uri}: not a file or folder", where
                )
            if not os.path.exists(path):
                raise UnreadableImportError(f"the imported artifact {uri} does not exist", where)
            if self.host_files == HOST_FILES_VISIBLE:
                return path
            if not _readable(path):
                raise UnreadableImportError(
                    f"cannot read the imported artifact {uri}: permission denied to flow's user", where
                )
            if self.host_files == HOST_FILES_MOUNTED and ":" not in path:  # ':' ends a bind's host path
                return path
            # The pipeline's author named this path: a link there (/data/latest) is followed, once, here.
            real = Path(os.path.realpath(path))
            return self._copy(uri, Path(path).name, lambda target: self.files.copy_in(real, target), where)
        if uri.startswith(S3_SCHEME):
            bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
            key = key.rstrip("/")
            if not key:
                raise UnreadableImportError(
                    f"the imported artifact {uri} names no object in its bucket", where
                )
            return self._copy(
                uri,
                key.rsplit("/", 1)[-1],
                lambda target: self._copy_s3(uri, bucket, key, target, where),
                where,
            )
        scheme = uri.split("://", 1)[0]
        raise UnreadableImportError(
            f"cannot read the imported artifact {uri}: flow reads local paths and s3:// URIs, not {scheme}://",
            where,
        )

    def _copy(self, uri: str, name: str, copy: Callable[[str], None], where: str) -> str:
        """The root-relative path of the run's copy of `uri`, made by `copy(path)`."""
        folder = f"{self.run_id}/{IMPORTS}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}"
        target = f"{folder}/{name if artifacts.is_safe_name(name) else 'artifact'}"
        try:
            self.files.reset(folder, create=False)
            copy(target)
        except (BackendError, RefusedFile) as exc:
            raise UnreadableImportError(
                f"cannot copy the imported artifact {uri} into the root: {exc}", where
            ) from None
        except OSError as exc:
            raise UnreadableImportError(
                f"cannot read the imported artifact {uri}: {exc.strerror}", where
            ) from None
        return target

    def _copy_s3(self, uri: str, bucket: str, key: str, target: str, where: str) -> None:
        from backends.s3.files import S3RootFiles  # boto3 is loaded only for an s3:// artifact

        with tempfile.TemporaryDirectory(prefix="flow-import-") as scratch:
            local = Path(scratch) / "artifact"
            try:
                found = S3RootFiles(f"{S3_SCHEME}{bucket}").download(key, local)
            except (BackendError, RefusedFile) as exc:
                raise UnreadableImportError(
                    f"cannot read the imported artifact {uri}: {exc}", where
                ) from None
            if not found:
                raise UnreadableImportError(f"the imported artifact {uri} does not exist", where)
            self.files.copy_in(local, target)


def _readable(path: str) -> bool:
    """Whether flow's user may read the file, or every file and folder under the folder, at `path`."""
    if not os.access(path, os.R_OK):
        return False
    if not os.path.isdir(path):
        return True
    for folder, dirs, names in os.walk(path):
        if not os.access(folder, os.R_OK | os.X_OK):
            return False
        for name, mode in [(d, os.R_OK | os.X_OK) for d in dirs] + [(n, os.R_OK) for n in names]:
            full = os.path.join(folder, name)
            if not os.path.islink(full) and not os.access(full, mode):
                return False
    return True
