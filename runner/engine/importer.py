"""dsl.importer: an existing file, folder or object made an artifact of the run, without a container.

As in KFP, the artifact is the URI given: nothing is copied, and a URI that names nothing, or an object
flow cannot read, is recorded all the same; a task that consumes it reads it or fails (engine/external.py).
A path in the pipeline root is recorded relative to the root, as every artifact in it is. With kfp 2.17's
`download_to_workspace`, the artifact is marked as KFP's driver marks it for its consumers, which read it
from the run's workspace.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendError
from roots.beneath import RefusedFile
from roots.files import Digest, RootFiles
from roots.local.files import LocalRootFiles
from runner import layout
from runner.engine import placeholders
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError
from runner.spec.model import Importer
from runner.store import ArtifactRecord

# Artifacts importers of earlier runs of the pipeline recorded, newest first: (uri, type, root) -> records,
# the root given for a URI relative to it (the same text names another file in another root).
EarlierImports = Callable[[str, str, str | None], list[ArtifactRecord]]


class ImportError_(FlowError):
    """The importer's URI or metadata cannot be worked out."""


@dataclass(frozen=True)
class Imported:
    output: str
    ref: ArtifactRef
    size: int
    reason: str  # what the store's reason column says of the task: the earlier import reused, if one was

    def record(self, run_id: str, task_path: str) -> ArtifactRecord:
        ref = self.ref
        return ArtifactRecord(
            run_id, task_path, ref.name, ref.uri, ref.type, ref.metadata, size=self.size, digest=ref.digest
        )


def import_artifact(
    node: Node,
    files: RootFiles,
    root: str,
    task_root: str,
    pipeline_values: Mapping[str, str],
    earlier: EarlierImports,
) -> Imported:
    """The importer's output artifact. Its metadata's placeholders are filled from the task's inputs. With
    `reimport` off (kfp's default), an artifact an earlier run of the pipeline imported from the same URI,
    with the same type and this metadata, is reused as KFP reuses its ML Metadata artifact: its metadata
    and the content digest caching keys on."""
    importer = node.component.executor
    assert isinstance(importer, Importer)
    where = node.task.where
    uri: Any = importer.uri if importer.uri is not None else node.params.get(str(importer.uri_input))
    if not isinstance(uri, str) or not uri:
        raise ImportError_("the importer has no URI to import", where)
    output = next(iter(node.component.outputs.artifacts), "artifact")
    context = placeholders.Context({"inputs": {"parameterValues": node.params}}, pipeline_values, where)
    metadata = _resolved(importer.metadata, context)
    recorded = _recorded_uri(uri, root, task_root, where)
    external = layout.is_external(recorded)
    reused = None if importer.reimport else _earlier_import(earlier, recorded, importer, root, metadata)
    if reused is not None:
        metadata = {k: v for k, v in reused.metadata.items() if k != layout.IN_WORKSPACE}
    if importer.download_to_workspace:
        # The flag KFP's driver gives the consumers (ExternalArtifacts copies the content at their start).
        metadata = {**metadata, layout.IN_WORKSPACE: True}
    if reused is not None and reused.digest:
        size, digest = reused.size, reused.digest
    else:
        size, digest = _local_digest(recorded) if external else _digest(recorded, files)
    ref = ArtifactRef(output, recorded, importer.schema_title, metadata=metadata, digest=digest)
    reason = f"reused the artifact of run {reused.run_id} task {reused.task_path}" if reused else ""
    return Imported(output, ref, size, reason)


def _earlier_import(
    earlier: EarlierImports, uri: str, importer: Importer, root: str, metadata: Mapping[str, Any]
) -> ArtifactRecord | None:
    """The newest artifact imported before from `uri` whose metadata holds all of `metadata` (KFP's match)."""
    same_root = None if layout.is_external(uri) else root
    for record in earlier(uri, importer.schema_title, same_root):
        if all(key in record.metadata and record.metadata[key] == v for key, v in metadata.items()):
            return record
    return None


def _resolved(value: Any, context: placeholders.Context) -> Any:
    """Metadata with its placeholders filled in, keys and values, at any depth, as kfp.local does: each
    placeholder becomes its value's text (JSON for a number, list or dict)."""
    if isinstance(value, str):
        return "".join(placeholders.render([value], context)) if "{{$" in value else value
    if isinstance(value, list):
        return [_resolved(item, context) for item in value]
    if isinstance(value, dict):
        return {_resolved(key, context): _resolved(item, context) for key, item in value.items()}
    return value


def _recorded_uri(uri: str, root: str, task_root: str, where: str) -> str:
    """The URI as the run records it: relative to the root for what is in it, else as given."""
    if uri.startswith(root.rstrip("/") + "/"):
        return layout.relative_to_root(root, task_root, uri)
    if "://" in uri and not uri.startswith(layout.FILE_SCHEME):
        return uri
    path = uri.removeprefix(layout.FILE_SCHEME)
    try:
        if not path.startswith("/"):
            return layout.relative_to_root(root, task_root, path)
    except FlowError as exc:
        raise ImportError_(f"cannot import {uri!r}: {exc.message}", where) from None
    return _under_root(path, root, task_root) or uri


def _under_root(path: str, root: str, task_root: str) -> str | None:
    """`path` relative to the root when it names something in it (absolute as the engine or a task sees
    the root); None for a path elsewhere on the engine's machine."""
    if root.startswith("/"):  # a local root: symlinks and other spellings of its path count too
        resolved, base = Path(path).resolve(), Path(root).resolve()
        if base in resolved.parents:
            return resolved.relative_to(base).as_posix()
    if path.startswith(task_root.rstrip("/") + "/"):
        return layout.relative_to_root(root, task_root, path)
    return None


def _digest(relative: str, files: RootFiles) -> Digest:
    """Size and content digest of what is at `relative` in the root; nothing for what is not there."""
    try:
        return files.digests([relative]).get(relative, (0, ""))
    except (BackendError, RefusedFile):  # a link a task left there is not followed
        return 0, ""


def _local_digest(uri: str) -> Digest:
    """Size and content digest of a file or folder of the engine's machine; nothing for a remote object,
    a path that names nothing, or one this process may not read."""
    path = layout.local_file(uri)
    if path is None or not Path(path).name:  # never the whole file system
        return 0, ""
    # The pipeline's author named this path: a link there (/data/latest) is followed, once, here.
    real = Path(os.path.realpath(path))
    try:
        return LocalRootFiles(real.parent).digests([real.name]).get(real.name, (0, ""))
    except (OSError, RefusedFile):
        return 0, ""
