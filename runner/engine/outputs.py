"""Reading what a finished container task produced: executor_output.json and files at the output paths."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from backends.rootfiles import RootFiles
from runner import artifacts
from runner.engine.graph import ArtifactRef
from runner.engine.values import check, parse_text
from runner.errors import FlowError
from runner.spec.model import Interface
from runner.store import ArtifactRecord


class OutputError(FlowError):
    """A task exited 0 but its outputs are missing or malformed; the task fails with this message."""


def collect(
    files: RootFiles, root: str, task_root: str, run_id: str, task_path: str, outputs: Interface, where: str
) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """The output parameter values and artifacts of a task that exited 0.

    A lightweight Python component reports through executor_output.json; a container component writes each
    output at its placeholder path. Both are read, the executor output first (as the KFP launcher does). A
    component may report another URI for an artifact (`dsl.get_uri()`); it must stay inside the root.
    """
    if not outputs.parameters and not outputs.artifacts:
        return {}, {}
    task_dir = artifacts.task_dir(run_id, task_path)  # names were checked safe at load time
    executor_output = f"{task_dir}/{artifacts.EXECUTOR_OUTPUT}"
    # One read for every file that may hold an output: on a cluster each read is a round trip.
    found = files.read([executor_output, *(f"{task_dir}/{name}" for name in outputs.parameters)])
    reported = _executor_output(found.get(executor_output), where)
    reported_params = reported.get("parameterValues") or {}
    reported_artifacts = reported.get("artifacts") or {}

    params: dict[str, Any] = {}
    for name, definition in outputs.parameters.items():
        if name in reported_params:
            params[name] = _checked(reported_params[name], definition.type, f"{where}: output {name!r}")
            continue
        content = found.get(f"{task_dir}/{name}")
        if content is None:
            raise OutputError(f"the task did not write its output parameter {name!r}", where)
        text = content.decode("utf-8", errors="replace")
        params[name] = parse_text(text, definition.type, f"{where}: output {name!r}")

    produced: dict[str, list[ArtifactRef]] = {}
    for name, adef in outputs.artifacts.items():
        metadata: dict[str, Any] = {}
        uri = artifacts.output_uri(run_id, task_path, name)
        entries = (reported_artifacts.get(name) or {}).get("artifacts") or []
        if entries and isinstance(entries[0], dict):
            metadata = dict(entries[0].get("metadata") or {})
            reported_uri = entries[0].get("uri")
            if isinstance(reported_uri, str) and reported_uri:
                try:
                    uri = artifacts.relative_to_root(root, task_root, reported_uri)
                except FlowError as exc:
                    raise OutputError(f"output artifact {name!r}: {exc.message}", where) from None
        produced[name] = [
            ArtifactRef(
                name=name,
                uri=uri,
                type=adef.schema_title,
                schema_version=adef.schema_version,
                metadata=metadata,
            )
        ]
    return params, produced


def _checked(value: Any, ptype: str, where: str) -> Any:
    try:
        return check(value, ptype, where)
    except FlowError as exc:
        raise OutputError(exc.message, where) from None


def _executor_output(content: bytes | None, where: str) -> dict[str, Any]:
    if content is None:
        return {}
    try:
        value = json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OutputError(f"malformed {artifacts.EXECUTOR_OUTPUT}: {exc}", where) from None
    if not isinstance(value, dict):
        raise OutputError(f"malformed {artifacts.EXECUTOR_OUTPUT}: not a JSON object", where)
    return value


def digest_artifacts(
    files: RootFiles, run_id: str, task_path: str, produced: dict[str, list[ArtifactRef]]
) -> list[ArtifactRecord]:
    """The records of a task's output artifacts, with their sizes and content digests; the refs in
    `produced` are replaced by ones that carry the digest."""
    found = files.digests([ref.uri for refs in produced.values() for ref in refs])
    records = []
    for name, refs in produced.items():
        digested = []
        for ref in refs:
            size, sha = found.get(ref.uri, (0, ""))
            digested.append(dataclasses.replace(ref, digest=sha))
            records.append(
                ArtifactRecord(
                    run_id=run_id,
                    task_path=task_path,
                    name=name,
                    uri=ref.uri,
                    type=ref.type,
                    metadata=ref.metadata,
                    size=size,
                    digest=sha,
                )
            )
        produced[name] = digested
    return records
