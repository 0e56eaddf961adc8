"""`@container_component`: a function that returns a ContainerSpec whose command and args use placeholders
for the component's inputs and outputs, as kfp's `dsl.container_component`."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.dsl.components import ContainerBacked, described, function_interface
from runner.dsl.errors import DefinitionError
from runner.dsl.types import kebab


@dataclass
class ContainerSpec:
    """What a container component runs: an image, its command and args (strings and placeholders)."""

    image: str
    command: Sequence[Any] | None = None
    args: Sequence[Any] | None = None
    env: dict[str, str] = field(default_factory=dict)


class ArtifactPlaceholder:
    """An artifact parameter of a container component: `.path`, `.uri`, `.metadata` are placeholders."""

    def __init__(self, io: str, name: str) -> None:
        self._base = f"$.{io}.artifacts['{name}']"

    @property
    def path(self) -> str:
        return f"{{{{{self._base}.path}}}}"

    @property
    def uri(self) -> str:
        return f"{{{{{self._base}.uri}}}}"

    @property
    def metadata(self) -> str:
        return f"{{{{{self._base}.metadata}}}}"


class ConcatPlaceholder:
    """One argument made of several strings and placeholders."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = list(items)

    def ir(self) -> Any:
        return {"Concat": [_ir(i) for i in self.items]}


class IfPresentPlaceholder:
    """Arguments present only when the optional input `input_name` was given (else `else_`)."""

    def __init__(self, input_name: str, then: Sequence[Any], else_: Sequence[Any] | None = None) -> None:
        self.input_name, self.then, self.else_ = input_name, list(then), else_

    def ir(self) -> Any:
        node: dict[str, Any] = {"InputName": self.input_name, "Then": [_ir(i) for i in self.then]}
        if self.else_ is not None:
            node["Else"] = [_ir(i) for i in self.else_]
        return {"IfPresent": node}


def _ir(item: Any) -> Any:
    if isinstance(item, ConcatPlaceholder | IfPresentPlaceholder):
        return item.ir()
    if isinstance(item, ArtifactPlaceholder):
        return item.path
    if isinstance(item, str | int | float):
        return str(item)
    raise DefinitionError(f"a command or argument must be a string or a placeholder, got {item!r}")


def _argument(item: Any) -> str:
    value = _ir(item)
    return value if isinstance(value, str) else json.dumps(value)


class ContainerComponent(ContainerBacked):
    """A component that runs a given image and command line."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.python_func = func
        self.name = kebab(func.__name__)
        self.description = inspect.getdoc(func) or ""
        signature = described(func, returns=False)
        self.inputs, self.outputs = function_interface(func, signature)
        placeholders: dict[str, Any] = {}
        for pname, entry in signature["inputs"].items():
            if entry["kind"] == "parameter":
                placeholders[pname] = f"{{{{$.inputs.parameters['{pname}']}}}}"
            elif entry.get("list"):
                raise DefinitionError(
                    "a list of artifacts cannot be passed to a container", f"{func.__name__}: {pname}"
                )
            else:
                art = ArtifactPlaceholder("inputs", pname)
                placeholders[pname] = art.path if entry.get("path") else art
        for pname, entry in signature["outputs"].items():
            if entry["kind"] == "parameter":
                placeholders[pname] = f"{{{{$.outputs.parameters['{pname}'].output_file}}}}"
            else:
                art = ArtifactPlaceholder("outputs", pname)
                placeholders[pname] = art.path if entry.get("path") else art
        spec = func(**placeholders)
        if not isinstance(spec, ContainerSpec):
            raise DefinitionError(
                f"a container component must return a ContainerSpec, got {spec!r}", func.__name__
            )
        self.spec = spec

    def container(self) -> dict[str, Any]:
        node: dict[str, Any] = {"image": self.spec.image}
        if self.spec.command:
            node["command"] = [_argument(c) for c in self.spec.command]
        if self.spec.args:
            node["args"] = [_argument(a) for a in self.spec.args]
        if self.spec.env:
            node["env"] = [{"name": k, "value": v} for k, v in self.spec.env.items()]
        return node

    def __repr__(self) -> str:
        return f"<container component {self.name}>"


def container_component(func: Callable[..., ContainerSpec]) -> ContainerComponent:
    """Make a component of a function returning `ContainerSpec(image, command, args)`; its parameters
    stand for placeholders: `msg: str` for the input's value, `out: Output[Dataset]` with `out.path`."""
    return ContainerComponent(func)
