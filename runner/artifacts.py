"""The artifact and volume convention (DESIGN.md section 5), in one place.

A run's files live under its pipeline root: `<root>/<run-id>/<task-path>/<output-name>`. Tasks see the root
at `/flow` (or, on the process backend, at the root's host path). Metadata records URIs relative to the root.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import platformdirs

from runner.errors import UsageError

TASK_ROOT = "/flow"
EXECUTOR_OUTPUT = "executor_output.json"
INTERNAL_DIR = ".flow"  # per-run folder for files the engine writes (executor inputs)

# Task and output names become path segments: no separators, no "." or "..", nothing hidden.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class PathOutsideRootError(UsageError):
    """A URI or path points outside the pipeline root."""


def flow_home() -> Path:
    """Where flow keeps its store, logs and default root: $FLOW_HOME or the user's data directory."""
    return Path(os.environ.get("FLOW_HOME") or platformdirs.user_data_dir("flow"))


def default_root() -> Path:
    return flow_home() / "root"


def is_safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def task_dir(run_id: str, task_path: str) -> str:
    """The folder of a task's outputs, relative to the root."""
    return f"{run_id}/{task_path}"


def output_uri(run_id: str, task_path: str, output: str) -> str:
    """An output's URI relative to the root."""
    return f"{run_id}/{task_path}/{output}"


def resolve(root: Path, relative_uri: str) -> Path:
    """The host path of a root-relative URI; refuses anything that would land outside the root."""
    base = root.resolve()
    target = (base / relative_uri).resolve()
    if target != base and base not in target.parents:
        raise PathOutsideRootError(f"path {relative_uri!r} is outside the pipeline root {base}")
    return target


def relative_to_root(root: Path, task_root: str, uri: str) -> str:
    """A URI as a task reported it (in-task absolute path, or root-relative) made root-relative, checked."""
    for prefix in (task_root.rstrip("/") + "/", str(root.resolve()) + "/"):
        if uri.startswith(prefix):
            uri = uri[len(prefix) :]
            break
    else:
        if uri.startswith("/") or "://" in uri:
            raise PathOutsideRootError(f"URI {uri!r} is outside the pipeline root")
    resolve(root, uri)
    return uri


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so readers see either nothing or all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def digest(path: Path) -> tuple[int, str]:
    """Size in bytes and sha256 of a file, or of a folder's files in path order; (0, "") when absent."""
    if path.is_file():
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        return path.stat().st_size, sha.hexdigest()
    if path.is_dir():
        sha = hashlib.sha256()
        size = 0
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            child_size, child_digest = digest(child)
            size += child_size
            sha.update(f"{child.relative_to(path).as_posix()}\0{child_digest}\n".encode())
        return size, sha.hexdigest()
    return 0, ""
