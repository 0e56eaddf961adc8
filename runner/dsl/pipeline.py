"""`@pipeline`: a function whose component calls build a graph of tasks; usable as a task of another one."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, overload

from runner.dsl.building import Channel, Collected, Graph, PipelineInput, building
from runner.dsl.components import BaseComponent, described
from runner.dsl.document import Document
from runner.dsl.errors import DefinitionError
from runner.dsl.tasks import PipelineTask
from runner.dsl.types import IOSpec, ir_default, kebab


class GraphComponent(BaseComponent):
    """A pipeline: built once, when decorated. Inside another pipeline it is a task running its DAG."""

    def __init__(
        self, func: Callable[..., Any], name: str | None = None, description: str | None = None
    ) -> None:
        self.python_func = func
        self.pipeline_name = name or kebab(func.__name__)
        self.name = kebab(self.pipeline_name)
        self.description = description if description is not None else inspect.getdoc(func) or ""
        self.inputs = _pipeline_inputs(func)
        self.graph = Graph(self.pipeline_name, self.inputs)
        arguments = {n: PipelineInput(self.graph, s) for n, s in self.inputs.items()}
        with building(self.graph):
            result = func(**arguments)
        self.graph.outputs = _pipeline_outputs(func, result, self.pipeline_name)
        self.outputs = {n: _output_spec(n, v) for n, v in self.graph.outputs.items()}

    def call_outside(self, *args: Any, **kwargs: Any) -> Any:
        raise DefinitionError(
            f"pipeline {self.pipeline_name!r} runs with runner.run(...) or `flow run`; called inside another"
            " @pipeline it becomes a task"
        )

    def register(
        self, doc: Document, task: PipelineTask | None = None, kubernetes: dict[str, Any] | None = None
    ) -> str:
        from runner.dsl.compiler import GraphCompiler

        return doc.add_component(self.name, GraphCompiler(self.graph, doc).run())

    def __repr__(self) -> str:
        return f"<pipeline {self.pipeline_name}>"


def _output_spec(name: str, value: Channel | Collected) -> IOSpec:
    spec = value.spec() if isinstance(value, Collected) else value.spec  # type: ignore[attr-defined]
    return IOSpec(name, spec.kind, spec.type, spec.schema_version, spec.is_list)


def _pipeline_inputs(func: Callable[..., Any]) -> dict[str, IOSpec]:
    signature = described(func, returns=False)
    if signature["outputs"]:
        name = next(iter(signature["outputs"]))
        raise DefinitionError(
            "a pipeline has no Output[...] or OutputPath parameters; it returns its outputs",
            f"{func.__name__}: parameter {name!r}",
        )
    defaults = {
        p.name: p.default for p in inspect.signature(func).parameters.values() if p.default is not p.empty
    }
    inputs: dict[str, IOSpec] = {}
    for pname, entry in signature["inputs"].items():
        where = f"{func.__name__}: parameter {pname!r}"
        if entry["kind"] == "artifact":
            if entry.get("path"):
                raise DefinitionError("InputPath is for components, not pipelines", where)
            inputs[pname] = IOSpec(pname, "artifact", entry["type"], entry["version"], bool(entry["list"]))
        elif entry["type"] == "TASK_FINAL_STATUS":
            raise DefinitionError("PipelineTaskFinalStatus is for the exit task's component", where)
        elif pname in defaults and defaults[pname] is not None:
            inputs[pname] = IOSpec(
                pname, "parameter", entry["type"], default=ir_default(defaults[pname], entry["type"], where)
            )
        else:
            optional = bool(entry["optional"]) or pname in defaults
            inputs[pname] = IOSpec(pname, "parameter", entry["type"], optional=optional)
    return inputs


def _pipeline_outputs(func: Callable[..., Any], result: Any, name: str) -> dict[str, Channel | Collected]:
    """The pipeline's outputs from its return value: one value ("Output") or a NamedTuple of values."""
    if result is None:
        return {}
    if isinstance(result, PipelineTask):
        raise DefinitionError("a pipeline returns task outputs (task.output), not tasks", name)
    if isinstance(result, tuple):
        fields = getattr(result, "_fields", None)
        if fields is None:
            annotation = typing.get_type_hints(func).get("return")
            fields = getattr(annotation, "_fields", None)
        if fields is None or len(fields) != len(result):
            raise DefinitionError("a pipeline returning several values must return a NamedTuple", name)
        outputs = dict(zip(fields, result, strict=True))
    else:
        outputs = {"Output": result}
    for key, value in outputs.items():
        if not isinstance(value, Channel | Collected) or isinstance(value, PipelineInput):
            raise DefinitionError(
                f"output {key!r} must be a task output or Collected(...), got {value!r}", name
            )
    return outputs


@overload
def pipeline(func: Callable[..., Any], /) -> GraphComponent: ...


@overload
def pipeline(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], GraphComponent]: ...


def pipeline(
    func: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None
) -> GraphComponent | Callable[[Callable[..., Any]], GraphComponent]:
    """Make a pipeline of a function whose parameters (typed, with defaults) are the pipeline's inputs and
    whose body calls components; it may return task outputs as the pipeline's outputs."""

    def decorate(f: Callable[..., Any]) -> GraphComponent:
        return GraphComponent(f, name=name, description=description)

    return decorate(func) if func is not None else decorate
