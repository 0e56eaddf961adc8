"""dsl.importer: bring an existing file or folder into the run as an artifact, without a container."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from runner import artifacts
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError
from runner.spec.model import Importer


class ImportError_(FlowError):
    """The importer's URI names nothing flow can read."""


def import_artifact(node: Node, root: Path, run_id: str) -> tuple[str, ArtifactRef]:
    """The importer's output name and artifact. A path under the root is used in place; a local path
    elsewhere is copied in under the task's output folder, so every backend sees it under /flow."""
    importer = node.component.executor
    assert isinstance(importer, Importer)
    where = node.task.where
    uri: Any = importer.uri if importer.uri is not None else node.params.get(str(importer.uri_input))
    if not isinstance(uri, str) or not uri:
        raise ImportError_("the importer has no URI to import", where)
    output = next(iter(node.component.outputs.artifacts), "artifact")
    source = Path(uri.removeprefix("file://"))
    if "://" in uri and not uri.startswith("file://"):
        raise ImportError_(
            f"cannot import {uri!r}: only local paths and paths under the pipeline root", where
        )
    if not source.is_absolute():
        source = root / source
    if not source.exists():
        raise ImportError_(f"nothing to import at {uri!r}", where)
    resolved, base = source.resolve(), root.resolve()
    if base in resolved.parents:
        relative = resolved.relative_to(base).as_posix()
    else:
        relative = artifacts.output_uri(run_id, node.path, output)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if resolved.is_dir():
            shutil.copytree(resolved, target)
        else:
            shutil.copy2(resolved, target)
    ref = ArtifactRef(name=output, uri=relative, type=importer.schema_title, metadata=dict(importer.metadata))
    return output, ref
