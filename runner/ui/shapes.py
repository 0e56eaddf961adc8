"""Store records as the JSON the page reads."""

from __future__ import annotations

from typing import Any

from runner.inputnames import shown_inputs
from runner.store import ArtifactRecord, RunRecord, TaskRecord


def run_summary(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "backend": record.backend,
        "state": record.state.value,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
    }


def run_detail(record: RunRecord) -> dict[str, Any]:
    outputs = record.outputs or {}
    return {
        **run_summary(record),
        "pipeline_file": record.pipeline_file,
        "root": record.root,
        "params": record.params,
        "error": record.error,
        "outputs": outputs.get("parameters") or {},
        "output_artifacts": outputs.get("artifacts") or {},
        "rerun_of": {"run": record.rerun_of, "task": record.rerun_task} if record.rerun_of else None,
    }


def task(record: TaskRecord) -> dict[str, Any]:
    return {
        "path": record.path,
        "name": record.name,
        "parent": record.parent,
        "component": record.component,
        "kind": record.kind,
        "state": record.state.value,
        "attempts": record.attempts,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
        "inputs": record.inputs,
        "shown_inputs": shown_inputs(record.inputs),
        "outputs": record.outputs,
        "error": record.error,
        "exit_code": record.exit_code,
        "reason": record.reason,
        "has_log": bool(record.log_path),
        "peak_memory_bytes": record.peak_memory_bytes,
        "cpu_seconds": record.cpu_seconds,
        "component_digest": record.component_digest,
    }


def artifact(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "task_path": record.task_path,
        "name": record.name,
        "uri": record.uri,
        "type": record.type,
        "metadata": record.metadata,
        "size": record.size,
        "digest": record.digest,
    }
