"""dsl.importer: bring an existing file or folder into the run as an artifact, without a container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends.rootfiles import RootFiles
from runner import artifacts
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError
from runner.spec.model import Importer


class ImportError_(FlowError):
    """The importer's URI names nothing flow can read."""


def import_artifact(
    node: Node, files: RootFiles, root: str, task_root: str, run_id: str
) -> tuple[str, ArtifactRef]:
    """The importer's output name and artifact. A path under the root is used in place; a local path
    elsewhere is copied in under the task's output folder, so every backend sees it under /flow."""
    importer = node.component.executor
    assert isinstance(importer, Importer)
    where = node.task.where
    uri: Any = importer.uri if importer.uri is not None else node.params.get(str(importer.uri_input))
    if not isinstance(uri, str) or not uri:
        raise ImportError_("the importer has no URI to import", where)
    output = next(iter(node.component.outputs.artifacts), "artifact")
    if "://" in uri and not uri.startswith(("file://", root.rstrip("/") + "/")):
        raise ImportError_(
            f"cannot import {uri!r}: only local paths and paths under the pipeline root", where
        )
    path = uri.removeprefix("file://")
    relative = _under_root(path, root, task_root)
    if relative is not None:
        if not files.exists([relative]):
            raise ImportError_(f"nothing to import at {uri!r} in the pipeline root", where)
    else:
        source = Path(path)
        if not source.exists():
            raise ImportError_(f"nothing to import at {uri!r}", where)
        relative = artifacts.output_uri(run_id, node.path, output)
        files.copy_in(source.resolve(), relative)
    ref = ArtifactRef(name=output, uri=relative, type=importer.schema_title, metadata=dict(importer.metadata))
    return output, ref


def _under_root(path: str, root: str, task_root: str) -> str | None:
    """`path` relative to the root when it names something in it (relative, or absolute as the engine
    or a task sees the root); None for a path elsewhere on the engine's machine."""
    if not path.startswith("/"):
        return artifacts.relative_to_root(root, task_root, path)
    if root.startswith("/"):  # a local root: symlinks and other spellings of its path count too
        resolved, base = Path(path).resolve(), Path(root).resolve()
        if base in resolved.parents:
            return resolved.relative_to(base).as_posix()
    if path.startswith(task_root.rstrip("/") + "/"):
        return artifacts.relative_to_root(root, task_root, path)
    return None
