"""Components: what a pipeline calls. `@component` makes one from a typed Python function."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, overload

from runner.dsl.building import Graph, check_argument, current_graph
from runner.dsl.document import Document
from runner.dsl.errors import DefinitionError
from runner.dsl.program import command_and_args
from runner.dsl.tasks import PipelineTask
from runner.dsl.types import IOSpec, interface_ir, ir_default, kebab, spec_from_entry
from runner.executor import describe

DEFAULT_IMAGE = "python:3.11"


class BaseComponent:
    """A component: named inputs and outputs, and how to add its definition to a pipeline document.

    Called inside a @pipeline function it adds a task (keyword arguments only, as in kfp).
    """

    name: str
    description: str = ""
    inputs: dict[str, IOSpec]
    outputs: dict[str, IOSpec]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = current_graph()
        if graph is None:
            return self.call_outside(*args, **kwargs)
        if args:
            raise DefinitionError(
                f"component {self.name!r} takes keyword arguments only inside a pipeline", graph.name
            )
        return self.task(graph, kwargs)

    def call_outside(self, *args: Any, **kwargs: Any) -> Any:
        raise DefinitionError(f"component {self.name!r} can only be called inside a @pipeline function")

    def task(self, graph: Graph, arguments: dict[str, Any]) -> PipelineTask:
        where = f"{graph.name}: call of {self.name!r}"
        bound: dict[str, Any] = {}
        for name, value in arguments.items():
            if name not in self.inputs:
                known = ", ".join(self.inputs) or "none"
                raise DefinitionError(
                    f"component {self.name!r} has no input {name!r}; its inputs: {known}", where
                )
            if self.inputs[name].type == "TASK_FINAL_STATUS":
                raise DefinitionError(f"input {name!r} is set by the ExitHandler, not by an argument", where)
            bound[name] = check_argument(self.inputs[name], value, where)
        missing = [
            n
            for n, s in self.inputs.items()
            if n not in bound and not (s.optional or s.has_default or s.type == "TASK_FINAL_STATUS")
        ]
        if missing:
            raise DefinitionError(f"missing argument(s) for {', '.join(map(repr, missing))}", where)
        return PipelineTask(self, bound, graph)

    def register(
        self, doc: Document, task: PipelineTask | None = None, kubernetes: dict[str, Any] | None = None
    ) -> str:
        """Add this component's definition (with `task`'s settings and its kfp-kubernetes settings, names
        known at run time already bound) to `doc`; return its component key."""
        raise NotImplementedError

    def interface(self) -> dict[str, Any]:
        """inputDefinitions and outputDefinitions, as present."""
        result: dict[str, Any] = {}
        if self.inputs:
            result["inputDefinitions"] = interface_ir(self.inputs)
        if self.outputs:
            result["outputDefinitions"] = interface_ir(self.outputs)
        return result


class ContainerBacked(BaseComponent):
    """A component that runs one container; task settings (resources, env) go into its executor."""

    def container(self) -> dict[str, Any]:
        raise NotImplementedError

    def register(
        self, doc: Document, task: PipelineTask | None = None, kubernetes: dict[str, Any] | None = None
    ) -> str:
        container = dict(self.container())
        if task is not None:
            if task.resources:
                container["resources"] = task.resources
            if task.env:
                env = {e["name"]: e["value"] for e in container.get("env", [])} | task.env
                container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        label = doc.add_executor(self.name, {"container": container}, kubernetes)
        return doc.add_component(self.name, {"executorLabel": label, **self.interface()})


def function_interface(
    func: Callable[..., Any], signature: dict[str, Any]
) -> tuple[dict[str, IOSpec], dict[str, IOSpec]]:
    """Inputs (with defaults) and outputs of a component function, from its described signature."""
    name = func.__name__
    defaults = {
        p.name: p.default for p in inspect.signature(func).parameters.values() if p.default is not p.empty
    }
    inputs: dict[str, IOSpec] = {}
    for pname, entry in signature["inputs"].items():
        spec = spec_from_entry(pname, entry)
        if pname in defaults:
            default = defaults[pname]
            where = f"{name}: parameter {pname!r}"
            if spec.kind == "artifact" and default is not None:
                raise DefinitionError(f"an artifact input can only default to None, not {default!r}", where)
            if spec.kind == "parameter" and default is not None:
                spec = IOSpec(pname, "parameter", spec.type, default=ir_default(default, spec.type, where))
            else:
                spec = IOSpec(pname, spec.kind, spec.type, spec.schema_version, spec.is_list, optional=True)
        if spec.type == "TASK_FINAL_STATUS":
            spec = IOSpec(pname, "parameter", spec.type, optional=True)
        inputs[pname] = spec
    outputs = {n: spec_from_entry(n, e) for n, e in signature["outputs"].items()}
    for rname, entry in signature["returns"]["outputs"].items():
        if rname in outputs or rname in inputs:
            raise DefinitionError(
                f"the return value {rname!r} has the name of a parameter of the function (a name collision)",
                f"{name}: parameter {rname!r}",
            )
        outputs[rname] = spec_from_entry(rname, entry)
    return inputs, outputs


def described(func: Callable[..., Any], returns: bool = True) -> dict[str, Any]:
    """runner.executor.describe, with its TypeError as a DefinitionError."""
    try:
        return describe(func, returns=returns)
    except TypeError as exc:
        raise DefinitionError(str(exc), _location(func)) from None


def _location(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else ""


class PythonComponent(ContainerBacked):
    """A typed Python function run by flow's embedded executor. Called outside a pipeline, it is the
    function itself."""

    def __init__(
        self,
        func: Callable[..., Any],
        base_image: str = DEFAULT_IMAGE,
        packages_to_install: list[str] | None = None,
    ) -> None:
        self.python_func = func
        self.name = kebab(func.__name__)
        self.description = inspect.getdoc(func) or ""
        self.base_image = base_image
        self.packages_to_install = list(packages_to_install or [])
        self.signature = described(func)
        self.inputs, self.outputs = function_interface(func, self.signature)
        self._command = command_and_args(func, self.signature, self.packages_to_install)
        functools.update_wrapper(self, func)

    def call_outside(self, *args: Any, **kwargs: Any) -> Any:
        return self.python_func(*args, **kwargs)

    def container(self) -> dict[str, Any]:
        command, args = self._command
        return {"args": args, "command": command, "image": self.base_image}

    def __repr__(self) -> str:
        return f"<component {self.name}>"


@overload
def component(func: Callable[..., Any], /) -> PythonComponent: ...


@overload
def component(
    *, base_image: str = DEFAULT_IMAGE, packages_to_install: list[str] | None = None
) -> Callable[[Callable[..., Any]], PythonComponent]: ...


def component(
    func: Callable[..., Any] | None = None,
    *,
    base_image: str = DEFAULT_IMAGE,
    packages_to_install: list[str] | None = None,
) -> PythonComponent | Callable[[Callable[..., Any]], PythonComponent]:
    """Make a component of a typed Python function (`@component` or `@component(base_image=...)`).

    Parameters may be str, int, float, bool, list, dict (Optional too), `Input[Artifact type]`,
    `Output[Artifact type]` and `OutputPath(type)`; the return value may be one of the parameter types or a
    NamedTuple of them. The compiled command embeds the function and flow's executor, so the image needs
    only Python; `packages_to_install` are pip-installed first when given.
    """

    def decorate(f: Callable[..., Any]) -> PythonComponent:
        return PythonComponent(f, base_image=base_image, packages_to_install=packages_to_install)

    return decorate(func) if func is not None else decorate
