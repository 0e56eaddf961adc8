"""Imported artifacts outside the pipeline root, made readable to the tasks that consume them.

A file or folder of the engine's machine is read in place where the backend's tasks can: a local process
sees it at its path, a Docker container gets it mounted read-only at that path, so the task's URI and path
are the ones imported. Elsewhere (pods), and for an s3:// object (read with the engine's S3 client, on
every backend), flow copies it once per run into the run's folder of the root, under `.imports/`, and the
task reads that copy as any artifact of the root. Only what the user running flow may read is read: a
container's daemon, which may read any file, mounts nothing that user could not open. A path that names
nothing, or a URI of a scheme flow cannot read, fails the consuming task with one line naming it.

An artifact imported with kfp 2.17's `download_to_workspace` is copied instead into the run's workspace,
at KFP's `.artifacts/` path for its URI, before the first task that consumes it starts (on every
backend, the same way): the task keeps the URI given and the flag KFP's driver sets, so that its
`.path` (flow's placeholder, kfp's Artifact.path) names the copy under /kfp-workspace. Where tasks see
the workspace elsewhere (the process backend, at its folder), the task's URI is the copy's path instead,
as kfp.local's subprocess runner gives it, without the flag that would send kfp to /kfp-workspace.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from backends.base import HOST_FILES_MOUNTED, HOST_FILES_VISIBLE, BackendError, Mount
from backends.workspaces import WORKSPACE_PATH
from roots.beneath import RefusedFile
from roots.files import RootFiles
from runner import layout
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError

IMPORTS = ".imports"  # in the run's folder; no task is named so (task names are never hidden)
S3_SCHEME = "s3://"


class UnreadableImportError(FlowError):
    """A consumed imported artifact names nothing, or nothing flow can read."""


@dataclass(frozen=True)
class Reached:
    """A task's input artifacts outside the root as its attempt reads them."""

    refs: Mapping[str, ArtifactRef]  # by recorded URI: its path read in place, or its copy in the root
    mounts: tuple[Mount, ...]  # for containers of this machine: the files read in place, read-only


NOTHING_REACHED = Reached({}, ())


@dataclass(frozen=True)
class RunWorkspace:
    """The run's workspace, for the artifacts imported into it."""

    files: Callable[[], RootFiles]  # the engine's access to it, made on first use (a pod on a cluster)
    task_path: str  # where its tasks see it
    root_uri: str  # the pipeline root's URI as tasks get it, for an artifact imported from the root


class ExternalArtifacts:
    """A run's imported artifacts outside its root, as its tasks read them, each worked out (and copied)
    once per run."""

    def __init__(
        self, files: RootFiles, run_id: str, host_files: str, workspace: RunWorkspace | None = None
    ) -> None:
        """`host_files`: how the backend's tasks read files of this machine (Backend.host_files)."""
        self.files, self.run_id, self.host_files = files, run_id, host_files
        self.workspace = workspace
        self._task_uris: dict[str, str] = {}  # URI -> the path a task reads, or its copy relative to the root
        self._mounts: dict[str, Mount] = {}  # path read in place -> its mount
        self._in_workspace: dict[str, ArtifactRef] = {}  # URI -> as tasks read its copy in the workspace
        self._workspace_files: RootFiles | None = None

    def for_task(self, node: Node) -> Reached:
        """The node's input artifacts outside the root as its attempt reads them: a local path in place,
        or a copy relative to the root. Raises UnreadableImportError for one it cannot read."""
        refs: dict[str, ArtifactRef] = {}
        for group in node.artifacts.values():
            for ref in group:
                if ref.metadata.get(layout.IN_WORKSPACE) is True and ref.uri not in refs:
                    if ref.uri not in self._in_workspace:
                        self._in_workspace[ref.uri] = self._into_workspace(ref, node.task.where)
                    refs[ref.uri] = self._in_workspace[ref.uri]
                elif layout.is_external(ref.uri) and ref.uri not in refs:
                    if ref.uri not in self._task_uris:
                        self._task_uris[ref.uri] = self._task_uri(ref.uri, node.task.where)
                    refs[ref.uri] = dataclasses.replace(ref, uri=self._task_uris[ref.uri])
        if not refs:
            return NOTHING_REACHED
        mounts = dict.fromkeys(self._mounts[r.uri] for r in refs.values() if r.uri in self._mounts)
        return Reached(refs, tuple(mounts))

    def _into_workspace(self, ref: ArtifactRef, where: str) -> ArtifactRef:
        """Copy the artifact into the run's workspace; the artifact as its consumers get it."""
        if self.workspace is None:  # the loader refuses such a pipeline
            raise UnreadableImportError(
                f"the imported artifact {ref.uri} is for a workspace the run has not", where
            )
        in_root = not layout.is_external(ref.uri)
        # KFP's path is that of the URI the tasks get: a file of the root by the root's URI.
        uri = f"{self.workspace.root_uri}/{ref.uri}" if in_root else ref.uri
        target = layout.workspace_relative(uri)
        if ".." in target.split("/"):  # never a path out of the workspace
            raise UnreadableImportError(
                f"cannot copy the imported artifact {uri} into the run's workspace: '..' in its path", where
            )
        if self._workspace_files is None:
            try:
                self._workspace_files = self.workspace.files()
            except BackendError as exc:
                raise UnreadableImportError(f"cannot reach the run's workspace: {exc}", where) from None
        files = self._workspace_files
        path = layout.local_file(uri)
        if in_root:
            copy: Callable[[], None] = functools.partial(self._copy_root, ref.uri, uri, files, target, where)
        elif path is not None:
            real = self._readable(uri, path, copied=True, where=where)
            copy = functools.partial(files.copy_in, Path(real), target)
        elif uri.startswith(S3_SCHEME):
            bucket, key = _s3_object(uri, where)
            copy = functools.partial(self._copy_s3, uri, bucket, key, files, target, where)
        else:
            raise _unreadable_scheme(uri, where)
        _copied(uri, files, target, copy, "the run's workspace", where)
        if self.workspace.task_path == WORKSPACE_PATH:
            return ref
        metadata = {k: v for k, v in ref.metadata.items() if k != layout.IN_WORKSPACE}
        return dataclasses.replace(ref, uri=f"{self.workspace.task_path}/{target}", metadata=metadata)

    def _task_uri(self, uri: str, where: str) -> str:
        path = layout.local_file(uri)
        if path is not None:
            visible = self.host_files == HOST_FILES_VISIBLE  # tasks run here as flow's user: read in place
            # Docker mounts it read-only at its path, unless a ':' in it would end a bind's path.
            mounted = self.host_files == HOST_FILES_MOUNTED and ":" not in os.path.realpath(path) + path
            real = self._readable(uri, path, copied=not (visible or mounted), where=where)
            if visible:
                return path
            if mounted:
                self._mounts[path] = Mount(real, path, read_only=True)
                return path
            return self._copy(
                uri, Path(path).name, lambda target: self.files.copy_in(Path(real), target), where
            )
        if uri.startswith(S3_SCHEME):
            bucket, key = _s3_object(uri, where)
            return self._copy(
                uri,
                key.rsplit("/", 1)[-1],
                lambda target: self._copy_s3(uri, bucket, key, self.files, target, where),
                where,
            )
        raise _unreadable_scheme(uri, where)

    @staticmethod
    def _readable(uri: str, path: str, copied: bool, where: str) -> str:
        """The real path of the local file or folder `path` names, once flow may hand it to a task."""
        if not Path(path).name:
            raise UnreadableImportError(
                f"cannot read the imported artifact {uri}: not a file or folder", where
            )
        if not os.path.exists(path):
            raise UnreadableImportError(f"the imported artifact {uri} does not exist", where)
        # The pipeline's author named this path: a link there (/data/latest) is followed, once, here.
        real = os.path.realpath(path)
        refusal = _refusal(real, copied=copied)
        if refusal:
            raise UnreadableImportError(f"cannot read the imported artifact {uri}: {refusal}", where)
        return real

    def _copy(self, uri: str, name: str, copy: Callable[[str], None], where: str) -> str:
        """The root-relative path of the run's copy of `uri`, made by `copy(path)`."""
        folder = f"{self.run_id}/{IMPORTS}/{hashlib.sha256(uri.encode()).hexdigest()[:16]}"
        target = f"{folder}/{name if layout.is_safe_name(name) else 'artifact'}"
        _copied(uri, self.files, folder, lambda: copy(target), "the root", where)
        return target

    def _copy_root(self, relative: str, uri: str, files: RootFiles, target: str, where: str) -> None:
        """Copy the file or folder at `relative` in the root to `target` in `files`."""
        if relative not in self.files.exists([relative]):
            raise UnreadableImportError(f"the imported artifact {uri} does not exist", where)
        with tempfile.TemporaryDirectory(prefix="flow-import-") as scratch:
            local = Path(scratch) / "artifact"
            content = self.files.read([relative]).get(relative)
            if content is not None:
                local.write_bytes(content)
            else:
                local.mkdir()
                self.files.copy_out(relative, local)
            files.copy_in(local, target)

    def _copy_s3(self, uri: str, bucket: str, key: str, files: RootFiles, target: str, where: str) -> None:
        from roots.s3 import files_at

        with tempfile.TemporaryDirectory(prefix="flow-import-") as scratch:
            local = Path(scratch) / "artifact"
            try:
                found = files_at(f"{S3_SCHEME}{bucket}").download(key, local)
            except (BackendError, RefusedFile) as exc:
                raise UnreadableImportError(
                    f"cannot read the imported artifact {uri}: {exc}", where
                ) from None
            if not found:
                raise UnreadableImportError(f"the imported artifact {uri} does not exist", where)
            files.copy_in(local, target)


def _copied(
    uri: str, files: RootFiles, replaced: str, copy: Callable[[], None], into: str, where: str
) -> None:
    """Remove what is at `replaced` in `files`, then `copy()`; a failure is one line naming `uri`."""
    try:
        files.reset(replaced, create=False)
        copy()
    except (BackendError, RefusedFile) as exc:
        raise UnreadableImportError(
            f"cannot copy the imported artifact {uri} into {into}: {exc}", where
        ) from None
    except OSError as exc:
        raise UnreadableImportError(
            f"cannot read the imported artifact {uri}: {exc.strerror}", where
        ) from None


def _s3_object(uri: str, where: str) -> tuple[str, str]:
    """The bucket and key an s3:// URI names."""
    bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
    key = key.rstrip("/")
    if not key:
        raise UnreadableImportError(f"the imported artifact {uri} names no object in its bucket", where)
    return bucket, key


def _unreadable_scheme(uri: str, where: str) -> UnreadableImportError:
    scheme = uri.split("://", 1)[0]
    return UnreadableImportError(
        f"cannot read the imported artifact {uri}: flow reads local paths and s3:// URIs, not {scheme}://",
        where,
    )


# Files the kernel makes up: /proc/self/environ, say, would hand a task the engine's own credentials.
_KERNEL_FILES = ("/proc/", "/sys/", "/dev/")


def _refusal(path: str, copied: bool) -> str:
    """Why flow will not hand the file or folder at `path` to a task ("" when it will): anything but
    regular files and folders (a socket such as Docker's, a device, a pipe) would give a container more
    than data, or never end copying; and a container's daemon could open what flow's user may not. A
    link inside a folder is resolved in the container when mounted; copied, it must lead to a file."""
    if path.startswith(_KERNEL_FILES) or path in ("/proc", "/sys", "/dev"):
        return "a file of the kernel's (its process, device or system files), not data"
    top = os.stat(path)
    if not (stat.S_ISREG(top.st_mode) or stat.S_ISDIR(top.st_mode)):
        return "not a regular file or folder"
    if not os.access(path, os.R_OK | (os.X_OK if stat.S_ISDIR(top.st_mode) else 0)):
        return "flow's user may not read it"
    if not stat.S_ISDIR(top.st_mode):
        return ""
    for folder, dirs, names in os.walk(path):
        for name in (*dirs, *names):
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, path)
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                if copied and not (os.path.exists(full) and stat.S_ISREG(os.stat(full).st_mode)):
                    return f"{relative} is a link to no regular file"
                continue
            if stat.S_ISDIR(info.st_mode):
                if not os.access(full, os.R_OK | os.X_OK):
                    return f"flow's user may not read {relative}"
            elif not stat.S_ISREG(info.st_mode):
                return f"{relative} is not a regular file or folder"
            elif not os.access(full, os.R_OK):
                return f"flow's user may not read {relative}"
    return ""
