"""Reusing components: `load_component` of a component or pipeline YAML (flow's or kfp's), and `importer`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from runner.dsl.building import Channel, current_graph
from runner.dsl.components import BaseComponent, ContainerBacked
from runner.dsl.document import Document
from runner.dsl.errors import DefinitionError
from runner.dsl.tasks import PipelineTask
from runner.dsl.types import IOSpec, kebab, spec_from_ir
from runner.errors import SpecError
from runner.executor import Artifact
from runner.spec import load_text


def _interface(node: dict[str, Any]) -> dict[str, IOSpec]:
    specs = {n: spec_from_ir(n, p, "parameter") for n, p in (node.get("parameters") or {}).items()}
    specs.update({n: spec_from_ir(n, a, "artifact") for n, a in (node.get("artifacts") or {}).items()})
    return specs


def _base(name: str) -> str:
    for prefix in ("comp-", "exec-"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


class YamlComponent(ContainerBacked):
    """A single component of a component YAML (kfp's shape: a pipeline of one task passing everything)."""

    def __init__(
        self, name: str, component: dict[str, Any], executor: dict[str, Any], kubernetes: dict[str, Any]
    ):
        self.name = name
        self.inputs = _interface(component.get("inputDefinitions") or {})
        self.outputs = _interface(component.get("outputDefinitions") or {})
        self._executor, self._kubernetes = executor, kubernetes

    def container(self) -> dict[str, Any]:
        return dict(self._executor["container"])

    def register(
        self, doc: Document, task: PipelineTask | None = None, kubernetes: dict[str, Any] | None = None
    ) -> str:
        if "container" in self._executor:
            return super().register(doc, task, {**self._kubernetes, **(kubernetes or {})})
        label = doc.add_executor(self.name, copy.deepcopy(self._executor), self._kubernetes)
        return doc.add_component(self.name, {"executorLabel": label, **self.interface()})

    def __repr__(self) -> str:
        return f"<loaded component {self.name}>"


class YamlGraphComponent(BaseComponent):
    """A loaded pipeline used as a task: its DAG and components are copied into the new pipeline."""

    def __init__(self, name: str, spec: dict[str, Any], platform: dict[str, Any]) -> None:
        self.name = name
        root = spec["root"]
        self.inputs = _interface(root.get("inputDefinitions") or {})
        self.outputs = _interface(root.get("outputDefinitions") or {})
        self._spec = spec
        kubernetes = (platform.get("platforms") or {}).get("kubernetes") or {}
        self._kubernetes = (kubernetes.get("deploymentSpec") or {}).get("executors") or {}

    def register(
        self, doc: Document, task: PipelineTask | None = None, kubernetes: dict[str, Any] | None = None
    ) -> str:
        labels = {
            label: doc.add_executor(_base(label), copy.deepcopy(node), self._kubernetes.get(label))
            for label, node in (self._spec.get("deploymentSpec") or {}).get("executors", {}).items()
        }
        components: dict[str, Any] = self._spec.get("components") or {}
        keys: dict[str, str] = {}

        def add(name: str, node: dict[str, Any]) -> str:
            node = copy.deepcopy(node)
            if "executorLabel" in node:
                node["executorLabel"] = labels[node["executorLabel"]]
            for child in ((node.get("dag") or {}).get("tasks") or {}).values():
                ref = child["componentRef"]["name"]
                if ref not in keys:
                    keys[ref] = add(ref, components[ref])
                child["componentRef"]["name"] = keys[ref]
            return doc.add_component(_base(name), node)

        return add(self.name, self._spec["root"])

    def __repr__(self) -> str:
        return f"<loaded pipeline {self.name}>"


def load_component_from_text(text: str, source: str = "<string>") -> BaseComponent:
    """A component from IR YAML text: a component file (one task) or a whole pipeline."""
    load_text(text, source)  # validates, with errors that name the place
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    spec, platform = documents[0], (documents[1] if len(documents) > 1 else {})
    name = kebab(str((spec.get("pipelineInfo") or {}).get("name") or "component"))
    root = spec["root"]
    tasks = (root.get("dag") or {}).get("tasks") or {}
    if len(tasks) == 1:
        (task,) = tasks.values()
        component = (spec.get("components") or {}).get(task["componentRef"]["name"]) or {}
        label = component.get("executorLabel")
        if label and _passes_through(root, task, component):
            executor = spec["deploymentSpec"]["executors"][label]
            kubernetes = (platform.get("platforms") or {}).get("kubernetes") or {}
            settings = ((kubernetes.get("deploymentSpec") or {}).get("executors") or {}).get(label) or {}
            return YamlComponent(name, component, executor, settings)
    return YamlGraphComponent(name, spec, platform)


def _passes_through(root: dict[str, Any], task: dict[str, Any], component: dict[str, Any]) -> bool:
    """Whether the one task takes every pipeline input unchanged: then the file is just its component."""
    if (root.get("inputDefinitions") or {}) != (component.get("inputDefinitions") or {}):
        return False
    inputs = task.get("inputs") or {}
    for kind, field in (("parameters", "componentInputParameter"), ("artifacts", "componentInputArtifact")):
        if any(list(b) != [field] or b[field] != n for n, b in (inputs.get(kind) or {}).items()):
            return False
    outputs = component.get("outputDefinitions") or {}
    return (root.get("outputDefinitions") or {}) == outputs


def load_component(path: str | Path) -> BaseComponent:
    """A component from a YAML file compiled by flow or kfp, for use inside a @pipeline."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read: {exc}", str(path)) from None
    return load_component_from_text(text, str(path))


class ImporterComponent(BaseComponent):
    """dsl.importer: makes an existing file or folder (a URI) an artifact of the pipeline."""

    def __init__(
        self, artifact_class: type[Artifact], reimport: bool, metadata: dict[str, Any] | None
    ) -> None:
        self.name = "importer"
        self.artifact_class, self.reimport, self.metadata = artifact_class, reimport, metadata or {}
        self.inputs = {"uri": IOSpec("uri", "parameter", "STRING")}
        self.outputs = {
            "artifact": IOSpec(
                "artifact", "artifact", artifact_class.schema_title, artifact_class.schema_version
            )
        }

    def register(
        self, doc: Document, task: PipelineTask | None = None, kubernetes: dict[str, Any] | None = None
    ) -> str:
        uri = task.arguments["uri"] if task is not None else None
        node: dict[str, Any] = {
            "artifactUri": {"runtimeParameter": "uri"} if isinstance(uri, Channel) else {"constant": uri},
            "typeSchema": {
                "schemaTitle": self.artifact_class.schema_title,
                "schemaVersion": self.artifact_class.schema_version,
            },
        }
        if self.metadata:
            node["metadata"] = self.metadata
        if self.reimport:
            node["reimport"] = True
        label = doc.add_executor(self.name, {"importer": node})
        return doc.add_component(self.name, {"executorLabel": label, **self.interface()})


def importer(
    artifact_uri: Any,
    artifact_class: type[Artifact] = Artifact,
    reimport: bool = False,
    metadata: dict[str, Any] | None = None,
) -> PipelineTask:
    """A task whose output `artifact` is the file or folder at `artifact_uri` (constant or pipeline value)."""
    graph = current_graph()
    if graph is None:
        raise DefinitionError("importer can only be used inside a @pipeline function", "importer")
    if not (isinstance(artifact_class, type) and issubclass(artifact_class, Artifact)):
        raise DefinitionError(f"artifact_class must be an artifact type, got {artifact_class!r}", "importer")
    from runner.dsl.types import json_value

    component = ImporterComponent(artifact_class, reimport, json_value(metadata or {}, "importer metadata"))
    return component.task(graph, {"uri": artifact_uri})
