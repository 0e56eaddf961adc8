"""Where files go, in one place: a run's artifacts under its pipeline root (DESIGN.md section 5), and flow's
own folders (its home, the default root).

A run's files live under its pipeline root: `<root>/<run-id>/<task-path>/<output-name>`. Tasks see the root
at `/flow` (or, on the process backend, at the root's host path). Metadata records URIs relative to the root.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
from pathlib import Path

import platformdirs

from runner.errors import UsageError

EXECUTOR_OUTPUT = "executor_output.json"
# Where a task finds a remote artifact as a plain file, KFP's way: s3://bucket/key is /s3/bucket/key.
REMOTE_MOUNTS = {"s3://": "/s3/", "gs://": "/gcs/", "minio://": "/minio/"}
FILE_SCHEME = "file://"
# The metadata KFP's driver gives a consumer for an artifact its importer downloaded into the run's
# workspace (backend/src/v2/driver setWorkspaceFlag): kfp's Artifact.path then names the workspace copy.
IN_WORKSPACE = "_kfp_workspace"
WORKSPACE_ARTIFACTS = ".artifacts"

# Task and output names become path segments: no separators, no "." or "..", nothing hidden.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class PathOutsideRootError(UsageError):
    """A URI or path points outside the pipeline root."""


def flow_home() -> Path:
    """Where flow keeps its store, logs and default root: $FLOW_HOME or the user's data directory."""
    return Path(os.environ.get("FLOW_HOME") or platformdirs.user_data_dir("flow"))


def private_home() -> Path:
    """flow_home(), readable by its owner only: it holds the store, whose rows carry pipeline parameters,
    and task logs."""
    return private_folder(flow_home())


def private_folder(folder: Path) -> Path:
    """`folder`, made (0700), or made private again where it is ours and others could read it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # a read-only folder is still read
        found = folder.stat()
        if found.st_mode & 0o077 and found.st_uid == os.getuid():
            folder.chmod(0o700)
    return folder


def default_root() -> Path:
    return flow_home() / "root"


def is_safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def local_path(uri: str) -> str:
    """The path where a task finds the artifact at `uri`: the URI itself, or a remote one's local path."""
    for prefix, mount in REMOTE_MOUNTS.items():
        if uri.startswith(prefix):
            return mount + uri[len(prefix) :]
    return uri


def workspace_relative(uri: str) -> str:
    """Where KFP's importer puts the artifact at `uri` in the run's workspace with `download_to_workspace`,
    relative to the workspace: the path a task would read it at (KFP's /s3/bucket/key for s3://, a local
    path itself) under `.artifacts` (backend/src/v2/component LocalWorkspacePathForURI)."""
    local = local_file(uri) or local_path(uri)
    return f"{WORKSPACE_ARTIFACTS}/{local.lstrip('/')}"


def is_external(uri: str) -> bool:
    """Whether an artifact's recorded URI names something outside the pipeline root: an imported file or
    object, recorded as the importer was given it. URIs of what is in the root are relative to it."""
    return uri.startswith("/") or "://" in uri


def full_uri(root: str, uri: str) -> str:
    """An artifact's full address from its recorded URI: under `root` for one in the root (recorded
    relative to it), as it was given for an imported one."""
    return uri if is_external(uri) else f"{root.rstrip('/')}/{uri}"


def local_file(uri: str) -> str | None:
    """The path on the engine's machine an external URI names (a path, or `file://` and a path); None for
    a URI of another scheme."""
    path = uri.removeprefix(FILE_SCHEME)
    return path if path.startswith("/") and "://" not in path else None


def task_dir(run_id: str, task_path: str) -> str:
    """The folder of a task's outputs, relative to the root."""
    return f"{run_id}/{task_path}"


def output_uri(run_id: str, task_path: str, output: str) -> str:
    """An output's URI relative to the root."""
    return f"{run_id}/{task_path}/{output}"


def relative_to_root(root: str, task_root: str, uri: str) -> str:
    """A URI as a task reported it (in-task absolute path, or root-relative) made root-relative, checked.

    The check is on the path's text, so it holds for a root the engine cannot see (a cluster volume).
    """
    for prefix in (task_root.rstrip("/") + "/", root.rstrip("/") + "/"):
        if uri.startswith(prefix):
            uri = uri[len(prefix) :]
            break
    else:
        if uri.startswith("/") or "://" in uri:
            raise PathOutsideRootError(f"URI {uri!r} is outside the pipeline root")
    normal = posixpath.normpath(uri)
    if normal in (".", "..") or normal.startswith("../") or normal.startswith("/"):
        raise PathOutsideRootError(f"path {uri!r} is outside the pipeline root {root}")
    return normal
