"""The pipeline a rerun runs: the one task, alone in the root DAG, fed by the root's inputs.

The component and its executor are copied unchanged from the run's pipeline, so the task runs the same image,
command, arguments, environment and resources, and records the same component digest. Its kfp-kubernetes
settings are copied too, with names that came from the run's parameters or upstream outputs written as the
constants they were.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from runner.engine.platform import NAMED_ENTRIES
from runner.errors import UsageError
from runner.reruns.target import WHERE, Target
from runner.spec import PipelineSpec, load_text
from runner.spec.quantities import input_placeholder
from runner.spec.yamldoc import dump_documents, parse_documents

# The keys of an old-style PVC mount entry that name the claim on the entry itself.
_PVC_SOURCE_KEYS = ("componentInputParameter", "taskOutputParameter")

# The value of a name source of the platform spec (`{componentInputParameter: ...}` and the like), or None.
NameLookup = Callable[[Mapping[str, Any]], str | None]


def one_task_pipeline(target: Target, name_value: NameLookup) -> PipelineSpec:
    """The pipeline that runs `target`'s task alone: its inputs are the root's, its outputs the pipeline's."""
    documents = [d for d in parse_documents(target.spec.text, target.spec.source) if d is not None]
    doc = documents[0]
    raw_task = _raw_task(doc, target.task.path)
    component_name = raw_task["componentRef"]["name"]
    component = doc["components"][component_name]
    label = component["executorLabel"]
    name = target.task.name
    interface_in = component.get("inputDefinitions") or {}
    interface_out = component.get("outputDefinitions") or {}
    task: dict[str, Any] = {
        "componentRef": {"name": component_name},
        "taskInfo": raw_task.get("taskInfo") or {"name": name},
        "cachingOptions": {"enableCache": False},
        "inputs": {
            "parameters": {p: {"componentInputParameter": p} for p in interface_in.get("parameters") or {}},
            "artifacts": {a: {"componentInputArtifact": a} for a in interface_in.get("artifacts") or {}},
        },
    }
    executor = doc["deploymentSpec"]["executors"][label]
    # Inputs the executor's resources name (kfp's `set_cpu_limit(param)` binds one to the task without the
    # component declaring it): the rerun's root takes them too, with the values the task had.
    resource_inputs = [n for n in _resource_inputs(executor) if n not in task["inputs"]["parameters"]]
    for input_name in resource_inputs:
        task["inputs"]["parameters"][input_name] = {"componentInputParameter": input_name}
    root_inputs = copy.deepcopy(interface_in)
    if resource_inputs:
        declared = root_inputs.setdefault("parameters", {})
        declared.update({n: {"parameterType": "STRING"} for n in resource_inputs})
    if "retryPolicy" in raw_task:
        task["retryPolicy"] = raw_task["retryPolicy"]
    outputs = {
        "parameters": {
            p: {"valueFromParameter": {"producerSubtask": name, "outputParameterKey": p}}
            for p in interface_out.get("parameters") or {}
        },
        "artifacts": {
            a: {"artifactSelectors": [{"producerSubtask": name, "outputArtifactKey": a}]}
            for a in interface_out.get("artifacts") or {}
        },
    }
    rerun_doc = {
        **{k: v for k, v in doc.items() if k in ("pipelineInfo", "schemaVersion", "sdkVersion")},
        "components": {component_name: component},
        "deploymentSpec": {"executors": {label: executor}},
        "root": {
            "inputDefinitions": root_inputs,
            "outputDefinitions": interface_out,
            "dag": {"tasks": {name: task}, "outputs": outputs},
        },
    }
    texts = [dump_documents(rerun_doc)]  # it shares parts with itself: no aliases for them
    platform_doc = documents[1] if len(documents) > 1 else {}
    kubernetes: dict[str, Any] = {}
    settings = _kubernetes_settings(platform_doc, label)
    if settings:
        settings = _names_as_constants(settings, name_value, target.task.path)
        kubernetes["deploymentSpec"] = {"executors": {label: settings}}
    # The run's workspace, which the rerun shares (runner.engine.workspace).
    workspace = (_kubernetes(platform_doc).get("pipelineConfig") or {}).get("workspace")
    if workspace is not None:
        kubernetes["pipelineConfig"] = {"workspace": copy.deepcopy(workspace)}
    if kubernetes:
        texts.append(dump_documents({"platforms": {"kubernetes": kubernetes}}))
    source = f"rerun of {target.run.run_id} task {target.task.path}"
    return load_text("---\n".join(texts), source)


def _resource_inputs(executor: Mapping[str, Any]) -> list[str]:
    """The input parameters the container's resource fields name, in the order of the fields."""
    resources = ((executor.get("container") or {}).get("resources")) or {}
    fields = [*resources.values(), *((resources.get("accelerator") or {}).values())]
    names = (input_placeholder(value) for value in fields)
    return list(dict.fromkeys(name for name in names if name is not None))


def _raw_task(doc: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """The IR of the task at `path`: DAG task names, each loop followed by its iteration's index."""
    components = doc.get("components") or {}
    dag: Mapping[str, Any] = doc["root"]["dag"]
    segments = path.split("/")
    while segments:
        name = segments.pop(0)
        raw = (dag.get("tasks") or {}).get(name)
        if raw is None:
            raise UsageError(f"task {path!r} is not in the run's pipeline", WHERE)
        if not segments:
            return dict(raw)
        if "parameterIterator" in raw or "artifactIterator" in raw:
            segments.pop(0)
        dag = components[raw["componentRef"]["name"]].get("dag") or {}
    raise UsageError(f"task {path!r} is not in the run's pipeline", WHERE)


def _kubernetes(platform: Mapping[str, Any]) -> Mapping[str, Any]:
    kubernetes: Mapping[str, Any] = (platform.get("platforms") or {}).get("kubernetes") or {}
    return kubernetes


def _kubernetes_settings(platform: Mapping[str, Any], label: str) -> dict[str, Any]:
    kubernetes = _kubernetes(platform)
    executors = (kubernetes.get("deploymentSpec") or {}).get("executors") or {}
    return copy.deepcopy(dict(executors.get(label) or {}))


def _names_as_constants(settings: dict[str, Any], name_value: NameLookup, path: str) -> dict[str, Any]:
    """`settings` with each Secret, ConfigMap or PVC named by a parameter named by its recorded value."""
    for key, (parameter_key, name_key) in NAMED_ENTRIES.items():
        for entry in settings.get(key) or []:
            if parameter_key in entry:
                source = entry.pop(parameter_key)
            elif key == "pvcMount" and any(k in entry for k in _PVC_SOURCE_KEYS):
                source = {k: entry.pop(k) for k in _PVC_SOURCE_KEYS if k in entry}
            else:
                continue
            value = name_value(source)
            if value is None:
                raise UsageError(
                    f"task {path!r}: the {key} name given by {source} has no recorded value", WHERE
                )
            entry[name_key] = value
    return settings
