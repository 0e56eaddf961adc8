"""The structure of a PipelineSpec with component names resolved, to compare flow's IR with kfp's.

Component keys differ (kfp makes one per task, flow stores identical ones once) and kfp writes every number
as a float (protobuf), so both are normalised away; everything else must match.
"""

from __future__ import annotations

from typing import Any


def _numbers(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


def component_shape(doc: dict[str, Any], component: dict[str, Any], executors: bool = False) -> Any:
    """A component with its DAG's tasks pointing at their components' shapes instead of names."""
    shape: dict[str, Any] = {}
    for key, value in component.items():
        if key == "dag":
            tasks = {}
            for name, task in value["tasks"].items():
                task = dict(task)
                ref = doc["components"][task.pop("componentRef")["name"]]
                task["component"] = component_shape(doc, ref, executors)
                tasks[name] = task
            shape["dag"] = {**{k: v for k, v in value.items() if k != "tasks"}, "tasks": tasks}
        elif key == "executorLabel":
            executor = doc["deploymentSpec"]["executors"][value]
            if "importer" in executor:
                shape["importer"] = executor["importer"]
            elif executors:
                shape["container"] = {
                    k: v for k, v in executor["container"].items() if k not in ("command", "args")
                }
        else:
            shape[key] = value
    return _numbers(shape)


def shape(doc: dict[str, Any], executors: bool = False) -> Any:
    """The whole pipeline's structure from its root."""
    return component_shape(doc, doc["root"], executors)
