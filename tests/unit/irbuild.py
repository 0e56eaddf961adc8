"""Build small KFP v2 IR pipelines (PipelineSpec) in tests: a dict to tweak, YAML text to load.

Inputs and outputs are declared as `{name: type}`: an IR parameter type ("STRING", "NUMBER_INTEGER"...)
makes a parameter, an artifact schema title ("system.Dataset") makes an artifact.
"""

from __future__ import annotations

from typing import Any

import yaml

Binding = tuple[str, dict[str, Any]]  # ("parameters" | "artifacts", the IR binding or selector)


def const(value: Any) -> Binding:
    return "parameters", {"runtimeValue": {"constant": value}}


def from_input(name: str) -> Binding:
    return "parameters", {"componentInputParameter": name}


def from_task(task: str, key: str) -> Binding:
    return "parameters", {"taskOutputParameter": {"producerTask": task, "outputParameterKey": key}}


def artifact_from_input(name: str) -> Binding:
    return "artifacts", {"componentInputArtifact": name}


def artifact_from_task(task: str, key: str) -> Binding:
    return "artifacts", {"taskOutputArtifact": {"producerTask": task, "outputArtifactKey": key}}


def select(task: str, key: str) -> Binding:
    """A DAG output parameter taken from one of the DAG's tasks."""
    return "parameters", {"valueFromParameter": {"producerSubtask": task, "outputParameterKey": key}}


def select_artifact(task: str, key: str) -> Binding:
    """A DAG output artifact taken from one of the DAG's tasks."""
    return "artifacts", {"artifactSelectors": [{"producerSubtask": task, "outputArtifactKey": key}]}


def task(component: str, *, after: tuple[str, ...] = (), **inputs: Binding) -> dict[str, Any]:
    node: dict[str, Any] = {"componentRef": {"name": component}}
    if after:
        node["dependentTasks"] = list(after)
    for name, (kind, binding) in inputs.items():
        node.setdefault("inputs", {}).setdefault(kind, {})[name] = binding
    return node


def interface(io: dict[str, str] | None, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for name, kind in (io or {}).items():
        if "." in kind:
            entry: dict[str, Any] = {"artifactType": {"schemaTitle": kind, "schemaVersion": "0.0.1"}}
            node.setdefault("artifacts", {})[name] = entry
        else:
            entry = {"parameterType": kind}
            if defaults and name in defaults:
                entry["defaultValue"] = defaults[name]
            node.setdefault("parameters", {})[name] = entry
    return node


def _component(
    inputs: dict[str, str] | None, outputs: dict[str, str] | None, defaults: dict[str, Any] | None
) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if inputs:
        node["inputDefinitions"] = interface(inputs, defaults)
    if outputs:
        node["outputDefinitions"] = interface(outputs)
    return node


def _dag(tasks: dict[str, dict[str, Any]], outputs: dict[str, Binding] | None) -> dict[str, Any]:
    dag: dict[str, Any] = {"tasks": tasks}
    for name, (kind, selector) in (outputs or {}).items():
        dag.setdefault("outputs", {}).setdefault(kind, {})[name] = selector
    return dag


class Pipeline:
    """A PipelineSpec under construction; `doc` is the plain dict, `yaml()` its text."""

    def __init__(self, name: str = "test-pipeline") -> None:
        self.doc: dict[str, Any] = {
            "pipelineInfo": {"name": name},
            "components": {},
            "deploymentSpec": {"executors": {}},
            "root": {"dag": {"tasks": {}}},
            "schemaVersion": "2.1.0",
            "sdkVersion": "flow-tests",
        }

    def container(
        self,
        name: str,
        *,
        inputs: dict[str, str] | None = None,
        outputs: dict[str, str] | None = None,
        args: list[str] | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> Pipeline:
        self.doc["components"][name] = {
            **_component(inputs, outputs, defaults),
            "executorLabel": f"exec-{name}",
        }
        self.doc["deploymentSpec"]["executors"][f"exec-{name}"] = {
            "container": {"image": "alpine:3", "command": ["echo"], "args": list(args or [])}
        }
        return self

    def dag(
        self,
        name: str,
        tasks: dict[str, dict[str, Any]],
        *,
        inputs: dict[str, str] | None = None,
        outputs: dict[str, str] | None = None,
        dag_outputs: dict[str, Binding] | None = None,
    ) -> Pipeline:
        self.doc["components"][name] = {**_component(inputs, outputs, None), "dag": _dag(tasks, dag_outputs)}
        return self

    def root(
        self,
        tasks: dict[str, dict[str, Any]],
        *,
        inputs: dict[str, str] | None = None,
        outputs: dict[str, str] | None = None,
        dag_outputs: dict[str, Binding] | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> Pipeline:
        self.doc["root"] = {**_component(inputs, outputs, defaults), "dag": _dag(tasks, dag_outputs)}
        return self

    def yaml(self) -> str:
        return yaml.safe_dump(self.doc, sort_keys=False)
