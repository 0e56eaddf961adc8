"""Runs, tasks and artifacts as the inspecting commands show them to scripts (`-o json|yaml`): times in
ISO 8601 (UTC), artifacts by their full address, as a kfp user reads artifact.uri."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import yaml

from runner import layout
from runner.cli import format as fmt
from runner.store import ArtifactRecord, RunRecord, TaskRecord

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML was built with it


def images(spec_text: str) -> dict[str, str]:
    """Each container component's image, by component name, as the run's pipeline file gives it. (Reading
    a big pipeline's text takes a while: only `-o wide` shows images.)"""
    try:
        spec = next(iter(yaml.load_all(spec_text, Loader=_LOADER)), None)
    except yaml.YAMLError:
        return {}
    executors = _mapping(_mapping(_mapping(spec).get("deploymentSpec")).get("executors"))
    found = {}
    for name, given in _mapping(_mapping(spec).get("components")).items():
        label = _mapping(given).get("executorLabel")
        image = _mapping(_mapping(executors.get(label)).get("container")).get("image")
        if isinstance(image, str):
            found[name] = image
    return found


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def task_inputs(root: str, task: TaskRecord, artifact_uris: Collection[str]) -> dict[str, Any]:
    """A task's input values, its input artifacts by their full address. The store keeps input artifacts
    among the values, as lists of their URIs: a list of URIs of artifacts the run (or the run it reruns)
    recorded is one."""
    return {
        name: [layout.full_uri(root, uri) for uri in value] if _uris(value, artifact_uris) else value
        for name, value in task.inputs.items()
    }


def _uris(value: Any, artifact_uris: Collection[str]) -> bool:
    return isinstance(value, list) and bool(value) and all(item in artifact_uris for item in value)


def run_json(
    record: RunRecord,
    tasks: list[TaskRecord] | None = None,
    arts: list[ArtifactRecord] | None = None,
    artifact_uris: Collection[str] = (),
) -> dict[str, Any]:
    """A run for scripts; its tasks and their artifacts when given, with `artifact_uris` (those of the run
    and of the run it reruns) to tell input artifacts from values."""
    outputs = record.outputs or {}
    shown: dict[str, Any] = {
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "pipeline_file": record.pipeline_file,
        "backend": record.backend,
        "state": record.state.value,
        "root": record.root,
        "params": record.params,
        "created_at": fmt.iso(record.created_at),
        "started_at": fmt.iso(record.started_at),
        "finished_at": fmt.iso(record.finished_at),
        "duration": record.duration,
        "error": record.error,
        "rerun_of": {"run": record.rerun_of, "task": record.rerun_task} if record.rerun_of else None,
        "outputs": {
            "parameters": outputs.get("parameters") or {},
            "artifacts": {
                name: [layout.full_uri(record.root, uri) for uri in uris]
                for name, uris in (outputs.get("artifacts") or {}).items()
            },
        },
    }
    if tasks is not None:
        by_task: dict[str, dict[str, Any]] = {}
        for art in arts or []:
            by_task.setdefault(art.task_path, {})[art.name] = artifact_json(record.root, art)
        shown["tasks"] = [
            _task_json(task, task_inputs(record.root, task, artifact_uris), by_task.get(task.path, {}))
            for task in tasks
        ]
    return shown


def _task_json(
    task: TaskRecord, inputs: dict[str, Any], artifacts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "path": task.path,
        "name": task.name,
        "component": task.component,
        "kind": task.kind,
        "state": task.state.value,
        "attempts": task.attempts,
        "started_at": fmt.iso(task.started_at),
        "finished_at": fmt.iso(task.finished_at),
        "duration": task.duration,
        "inputs": inputs,
        "outputs": task.outputs,
        "error": task.error,
        "exit_code": task.exit_code,
        "reason": task.reason,
        "peak_memory_bytes": task.peak_memory_bytes,
        "cpu_seconds": task.cpu_seconds,
        "component_digest": task.component_digest,
        "cache_key": task.cache_key,
        "artifacts": artifacts,
    }


def artifact_json(root: str, art: ArtifactRecord) -> dict[str, Any]:
    return {
        "uri": layout.full_uri(root, art.uri),
        "type": art.type,
        "size": art.size,
        "sha256": art.digest,
        "metadata": art.metadata,
    }
