"""`compile`: a pipeline or a component as a PipelineSpec (KFP IR, schemaVersion 2.1.0), dict or YAML."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from runner.dsl.building import Graph, PipelineInput, TaskOutput, building
from runner.dsl.compiler import GraphCompiler
from runner.dsl.components import BaseComponent
from runner.dsl.document import Document
from runner.dsl.errors import DefinitionError
from runner.dsl.pipeline import GraphComponent

SCHEMA_VERSION = "2.1.0"


def _sdk_version() -> str:
    try:
        return f"flow-{metadata.version('flow-pipelines')}"
    except metadata.PackageNotFoundError:
        return "flow"


def _single_task_graph(component: BaseComponent) -> Graph:
    """A component alone as kfp compiles it: a pipeline of one task, its inputs and outputs passed through."""
    graph = Graph(component.name, dict(component.inputs))
    arguments = {
        n: PipelineInput(graph, s) for n, s in component.inputs.items() if s.type != "TASK_FINAL_STATUS"
    }
    with building(graph):
        task = component.task(graph, arguments)
    graph.outputs = {n: TaskOutput(task, s) for n, s in component.outputs.items()}
    graph.inputs = {n: s for n, s in graph.inputs.items() if s.type != "TASK_FINAL_STATUS"}
    return graph


def compile_documents(target: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PipelineSpec of a @pipeline or a component, and its kfp-kubernetes platform spec ({} if none)."""
    if isinstance(target, GraphComponent):
        graph, info = target.graph, {"name": target.pipeline_name}
    elif isinstance(target, BaseComponent):
        graph, info = _single_task_graph(target), {"name": target.name}
    else:
        raise DefinitionError(f"compile takes a @pipeline or a component, got {target!r}", "compile")
    if target.description:
        info["description"] = target.description
    doc = Document()
    root = GraphCompiler(graph, doc).run()
    spec = {
        "components": doc.components,
        "deploymentSpec": {"executors": doc.executors},
        "pipelineInfo": info,
        "root": root,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": _sdk_version(),
    }
    return spec, doc.platform_spec()


def compile(target: Any) -> dict[str, Any]:
    """The PipelineSpec (KFP IR) of a @pipeline, or of a component alone (a pipeline of one task)."""
    return compile_documents(target)[0]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (component code) as readable literal blocks; a value used twice is written out
    twice, as kfp does: pipeline files hold no YAML aliases (flow's loader refuses them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def compile_to_text(target: Any) -> str:
    """The IR as YAML text: the PipelineSpec, then the platform spec when any task has kubernetes settings."""
    spec, platform = compile_documents(target)
    name = spec["pipelineInfo"]["name"]
    header = f"# PIPELINE DEFINITION\n# Name: {name}\n# Compiled by flow's SDK ({spec['sdkVersion']}).\n"
    documents = [spec, platform] if platform else [spec]
    return header + yaml.dump_all(documents, Dumper=_Dumper, sort_keys=True, width=110, allow_unicode=True)


def compile_to_file(target: Any, path: str | Path) -> Path:
    """Write the IR YAML to `path`; returns the path."""
    path = Path(path)
    path.write_text(compile_to_text(target), encoding="utf-8")
    return path
