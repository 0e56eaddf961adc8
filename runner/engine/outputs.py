"""Reading what a finished container task produced: executor_output.json and files at the output paths."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from roots.beneath import RefusedFile, TooLarge
from roots.files import RootFiles
from runner import layout
from runner.config import DEFAULT_MAX_PARAMETER_BYTES
from runner.engine.graph import ArtifactRef
from runner.errors import FlowError
from runner.spec.model import Interface
from runner.spec.parameter_types import check, parse_text
from runner.store import ArtifactRecord

# executor_output.json carries every output parameter and the artifacts' metadata: this many times the
# limit of one parameter.
EXECUTOR_OUTPUT_FACTOR = 16
_MAX_NESTING = 100  # JSON from a task nested deeper than this is refused: the store's encoder recurses


class OutputError(FlowError):
    """A task exited 0 but its outputs are missing or malformed; the task fails with this message."""


def collect(
    files: RootFiles,
    root: str,
    task_root: str,
    run_id: str,
    task_path: str,
    outputs: Interface,
    where: str,
    max_parameter_bytes: int = DEFAULT_MAX_PARAMETER_BYTES,
) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """The output parameter values and artifacts of a task that exited 0.

    A lightweight Python component reports through executor_output.json; a container component writes each
    output at its placeholder path. Both are read, the executor output first (as the KFP launcher does). A
    component may report another URI for an artifact (`dsl.get_uri()`); it must stay inside the root.
    Everything the task wrote is checked: regular files in its own folder (no links followed), within the
    size limits, of the shape and types KFP's ExecutorOutput has.
    """
    if not outputs.parameters and not outputs.artifacts:
        return {}, {}
    task_dir = layout.task_dir(run_id, task_path)  # names were checked safe at load time
    executor_output = f"{task_dir}/{layout.EXECUTOR_OUTPUT}"
    # One read for every file that may hold an output: on a cluster each read is a round trip.
    try:
        found = files.read(
            [executor_output, *(f"{task_dir}/{name}" for name in outputs.parameters)],
            max_bytes=max_parameter_bytes * EXECUTOR_OUTPUT_FACTOR,
        )
    except TooLarge as exc:
        if exc.path != executor_output:  # a parameter's file: over its own limit too
            _check_size(exc.size, max_parameter_bytes, exc.path.rsplit("/", 1)[-1], where)
        message = f"{layout.EXECUTOR_OUTPUT} is {exc.size} bytes, over the limit of {exc.limit}"
        raise OutputError(message, where) from None
    except RefusedFile as exc:
        raise OutputError(f"refused the task's output: {exc}", where) from None
    reported = _executor_output(found.get(executor_output), where)
    reported_params = _mapping(reported, "parameterValues", where)
    reported_artifacts = _mapping(reported, "artifacts", where)
    firsts = {name: _reported_artifact(reported_artifacts, name, where) for name in outputs.artifacts}

    params: dict[str, Any] = {}
    for name, definition in outputs.parameters.items():
        if name in reported_params:
            value = reported_params[name]
            _check_size(len(json.dumps(value)), max_parameter_bytes, name, where)
            params[name] = _checked(value, definition.type, f"{where}: output {name!r}")
            continue
        content = found.get(f"{task_dir}/{name}")
        if content is None:
            raise OutputError(f"the task did not write its output parameter {name!r}", where)
        _check_size(len(content), max_parameter_bytes, name, where)
        text = content.decode("utf-8", errors="replace")
        params[name] = _checked_text(text, definition.type, f"{where}: output {name!r}")

    produced: dict[str, list[ArtifactRef]] = {}
    for name, adef in outputs.artifacts.items():
        metadata: dict[str, Any] = {}
        uri = layout.output_uri(run_id, task_path, name)
        first = firsts[name]
        if first:
            metadata = first.get("metadata") or {}
            reported_uri = first.get("uri")
            if reported_uri:
                try:
                    uri = layout.relative_to_root(root, task_root, reported_uri)
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


def _check_size(size: int, limit: int, name: str, where: str) -> None:
    if size > limit:
        raise OutputError(
            f"output parameter {name!r} is {size} bytes, over the limit of {limit} "
            "(max_parameter_size in flow.yaml)",
            where,
        )


def _checked(value: Any, ptype: str, where: str) -> Any:
    try:
        return check(value, ptype, where)
    except FlowError as exc:
        raise OutputError(exc.message, where) from None


def _checked_text(text: str, ptype: str, where: str) -> Any:
    try:
        value = parse_text(text, ptype, where)
    except FlowError as exc:
        raise OutputError(exc.message, where) from None
    if _too_deep(value):
        raise OutputError(f"the value is JSON nested more than {_MAX_NESTING} levels deep", where)
    return value


def _executor_output(content: bytes | None, where: str) -> dict[str, Any]:
    if content is None:
        return {}
    malformed = f"malformed {layout.EXECUTOR_OUTPUT}"
    try:
        value = json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OutputError(f"{malformed}: {exc}", where) from None
    except RecursionError:
        raise OutputError(f"{malformed}: nested too deeply", where) from None
    if not isinstance(value, dict):
        raise OutputError(f"{malformed}: not a JSON object", where)
    if _too_deep(value):
        raise OutputError(f"{malformed}: nested more than {_MAX_NESTING} levels deep", where)
    return value


def _mapping(value: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    found = value.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise OutputError(f"malformed {layout.EXECUTOR_OUTPUT}: {key} is not a JSON object", where)
    return found


def _reported_artifact(reported: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """The first artifact the executor output reports for output `name` (an empty dict for none), its
    fields checked: KFP's ExecutorOutput has {"artifacts": {name: {"artifacts": [{uri, metadata}]}}}."""
    malformed = f"malformed {layout.EXECUTOR_OUTPUT}: artifacts.{name}"
    listed = reported.get(name)
    if listed is None:
        return {}
    if not isinstance(listed, dict):
        raise OutputError(f"{malformed} is not a JSON object", where)
    entries = listed.get("artifacts")
    if entries is None or entries == []:
        return {}
    if not isinstance(entries, list) or not isinstance(entries[0], dict):
        raise OutputError(f"{malformed}.artifacts is not a list of JSON objects", where)
    first: dict[str, Any] = entries[0]
    if not isinstance(first.get("uri", ""), str):
        raise OutputError(f"{malformed}.artifacts[0].uri is not a string", where)
    if not isinstance(first.get("metadata") or {}, dict):
        raise OutputError(f"{malformed}.artifacts[0].metadata is not a JSON object", where)
    return first


def _too_deep(value: Any) -> bool:
    """Whether lists and objects nest in `value` more than _MAX_NESTING levels (checked without recursion)."""
    level: list[Any] = [value]
    for _ in range(_MAX_NESTING):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not any(isinstance(item, dict | list) for item in level):
            return False
    return True


def digest_artifacts(
    files: RootFiles, run_id: str, task_path: str, produced: dict[str, list[ArtifactRef]], where: str = ""
) -> list[ArtifactRecord]:
    """The records of a task's output artifacts, with their sizes and content digests; the refs in
    `produced` are replaced by ones that carry the digest."""
    try:
        found = files.digests([ref.uri for refs in produced.values() for ref in refs])
    except RefusedFile as exc:
        raise OutputError(f"refused the task's output artifact: {exc}", where) from None
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
