"""A rerun's inputs: the values and artifacts its task was given, as the store recorded them.

Input artifacts keep their URIs, so the task sees the very paths it saw (`/flow/<run>/<task>/<output>`). When
the rerun's root is another (a cluster volume's task re-run on a laptop), they are copied into the new root
at the same place first; a copy already there with the recorded content is kept.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from backends.base import BackendError
from roots.beneath import RefusedFile
from roots.files import RootFiles
from runner import layout
from runner.engine.graph import ArtifactRef
from runner.errors import RunNotFoundError, UsageError
from runner.reruns.target import WHERE
from runner.spec.model import Component
from runner.store import ArtifactRecord, Store, TaskRecord

Notify = Callable[[str], None]


def parameter_values(task: TaskRecord, names: Iterable[str]) -> dict[str, Any]:
    """The values the task was given for these inputs (the rerun pipeline's root takes them)."""
    return {name: task.inputs[name] for name in names if name in task.inputs}


def artifact_refs(store: Store, task: TaskRecord, component: Component) -> dict[str, list[ArtifactRef]]:
    """The input artifacts the task was given, with the type, metadata and digest their producer recorded."""
    refs: dict[str, list[ArtifactRef]] = {}
    known = _records_by_uri(store.artifacts(task.run_id))
    for name, definition in component.inputs.artifacts.items():
        uris = task.inputs.get(name)
        if not isinstance(uris, list):
            continue
        found = []
        for uri in uris:
            record = known.get(uri) or _from_producer_run(store, uri)
            found.append(
                ArtifactRef(
                    name=record.name if record else name,
                    uri=uri,
                    type=record.type if record else definition.schema_title,
                    schema_version=definition.schema_version,
                    metadata=dict(record.metadata) if record else {},
                    digest=record.digest if record else "",
                )
            )
        refs[name] = found
    return refs


def _records_by_uri(records: list[ArtifactRecord]) -> dict[str, ArtifactRecord]:
    return {record.uri: record for record in records}


def _from_producer_run(store: Store, uri: str) -> ArtifactRecord | None:
    """The record of an artifact another run made (a cache hit's, a rerun's): its URI starts with that run."""
    producer = uri.split("/", 1)[0]
    try:
        records = store.artifacts(store.run(producer).run_id) if producer else []
    except RunNotFoundError:
        return None
    return _records_by_uri(records).get(uri)


def stage(
    refs: Mapping[str, list[ArtifactRef]],
    source: RootFiles,
    target: RootFiles,
    same_root: bool,
    where: str,
    notify: Notify | None,
) -> None:
    """Make every input artifact present in the rerun's root: in place when it is the run's own root, else
    copied from `source`. Raises UsageError naming the first artifact missing from the run's root."""
    # An imported artifact outside the root is read where it is, as in the run (engine/external.py).
    wanted = {ref.uri: ref for group in refs.values() for ref in group if not layout.is_external(ref.uri)}
    if not wanted:
        return
    try:
        present = target.digests(list(wanted))
        # A copy left by an earlier rerun with the recorded content is kept.
        stale = [r for r in wanted.values() if present.get(r.uri, (0, ""))[1] != r.digest]
        to_copy = [] if same_root else stale
        if to_copy:
            _copy(to_copy, source, target, where)
            present.update(target.digests([r.uri for r in to_copy]))
    except (BackendError, RefusedFile) as exc:
        raise UsageError(f"cannot stage the task's input artifacts: {exc}", WHERE) from None
    for ref in wanted.values():
        if ref.uri not in present:
            raise UsageError(f"input artifact {ref.uri} is missing from the run's root {where}", WHERE)
        if ref.digest and present[ref.uri][1] != ref.digest and notify is not None:
            notify(f"input artifact {ref.uri} changed since the run recorded it (its sha256 differs)")


def _copy(refs: list[ArtifactRef], source: RootFiles, target: RootFiles, where: str) -> None:
    """Copy artifacts between roots through a local temporary folder. Copies are made with this process's
    umask, not the modes of a file kept private on the way, so tasks running as another user can read them.
    """
    uris = [ref.uri for ref in refs]
    files = source.read(uris)
    folders = [uri for uri in uris if uri not in files]
    missing = set(folders) - source.exists(folders)
    if missing:
        raise UsageError(f"input artifact {sorted(missing)[0]} is missing from the run's root {where}", WHERE)
    with tempfile.TemporaryDirectory(prefix="flow-rerun-") as scratch:
        for number, uri in enumerate(uris):
            local = Path(scratch) / str(number) / uri.rsplit("/", 1)[-1]
            if uri in files:
                local.parent.mkdir()
                local.write_bytes(files[uri])
            else:
                source.copy_out(uri, local)
                local.mkdir(parents=True, exist_ok=True)  # an empty folder artifact copies out as nothing
                target.reset(uri, create=False)  # a folder is copied whole into a place left empty
            target.copy_in(local, uri)
