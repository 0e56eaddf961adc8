"""What a pipeline function builds while it runs: channels (values known at run time), tasks and groups."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from runner.dsl.errors import DefinitionError
from runner.dsl.tasks import PipelineTask
from runner.dsl.types import (
    IOSpec,
    artifacts_compatible,
    describe_type,
    is_value_of,
    json_value,
    parameters_compatible,
)

_CONSTANT_TYPES = {bool: "BOOLEAN", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE", str: "STRING"}


class Channel:
    """A value of the running pipeline: a pipeline input, a task output or a loop item.

    Comparing one with a constant or another channel gives a Condition for `If`/`Elif`.
    """

    kind: Literal["parameter", "artifact"] = "parameter"
    type: str | None = None  # IR parameter type or schema title; None when only known at run time
    is_list = False

    @property
    def input_name(self) -> str:
        """The name kfp gives this value where it is passed into a nested DAG."""
        raise NotImplementedError

    def _compare(self, op: str, other: Any) -> Condition:
        if self.kind != "parameter":
            raise DefinitionError(f"an artifact cannot be compared ({self!r} {op} {other!r})", "If")
        return Condition(op, self, other)

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> Condition:
        return self._compare("<", other)

    def __le__(self, other: Any) -> Condition:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> Condition:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> Condition:
        return self._compare(">=", other)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{self!r} has no value while the pipeline is defined; use `with If(...)` to branch on it",
            _where("pipeline"),
        )


class PipelineInput(Channel):
    def __init__(self, graph: Graph, spec: IOSpec) -> None:
        self.graph, self.spec = graph, spec
        self.kind, self.type, self.is_list = spec.kind, spec.type, spec.is_list

    @property
    def input_name(self) -> str:
        return f"pipelinechannel--{self.spec.name}"

    def __repr__(self) -> str:
        return f"pipeline input {self.spec.name!r}"


class TaskOutput(Channel):
    def __init__(self, task: PipelineTask, spec: IOSpec) -> None:
        self.task, self.spec = task, spec
        self.kind, self.type, self.is_list = spec.kind, spec.type, spec.is_list

    @property
    def input_name(self) -> str:
        return f"pipelinechannel--{self.task.name}-{self.spec.name}"

    def __repr__(self) -> str:
        return f"output {self.spec.name!r} of task {self.task.name!r}"


class LoopItem(Channel):
    """The item of a ParallelFor; `item.field` (or `item["field"]`) is a field of a dict item."""

    def __init__(self, loop: Group, ptype: str | None, field: str | None = None) -> None:
        self.loop, self.type, self.field = loop, ptype, field
        if loop.item_artifact is not None:
            self.kind = "artifact"

    @property
    def input_name(self) -> str:
        base = self.loop.item_input
        return f"{base}-subvar-{self.field}" if self.field else base

    def __getattr__(self, name: str) -> LoopItem:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> LoopItem:
        if self.kind == "artifact":
            raise DefinitionError(f"an artifact has no fields ({self!r}.{name})", "ParallelFor")
        if self.field is not None:
            raise DefinitionError(
                f"only one level of fields is supported (item.{self.field}.{name})", "ParallelFor"
            )
        return LoopItem(self.loop, None, name)

    def __repr__(self) -> str:
        return f"item of {self.loop.name}" + (f" field {self.field!r}" if self.field else "")


class OneOf(Channel):
    """`OneOf(a.output, b.output, ...)`: the output of whichever branch of an If/Elif/Else ran, one output
    from each branch (the last one an Else)."""

    def __init__(self, *outputs: Channel) -> None:
        where = _where("OneOf")
        if len(outputs) < 2 or not all(isinstance(o, TaskOutput) for o in outputs):
            raise DefinitionError("OneOf takes task outputs from the branches of an If/Elif/Else", where)
        self.outputs: list[TaskOutput] = [o for o in outputs if isinstance(o, TaskOutput)]
        branches = [o.task.group for o in self.outputs]
        wrapper = branches[0].parent
        if wrapper is None or wrapper.kind != "condition-branches":
            raise DefinitionError(f"{outputs[0]!r} is not produced directly inside an If/Elif/Else", where)
        if [id(b) for b in branches] != [id(c) for c in wrapper.children] or branches[-1].branch != "else":
            raise DefinitionError(
                "OneOf takes one output from each branch of one If/Elif/Else, in order, ending with Else",
                where,
            )
        first = self.outputs[0].spec
        if any((o.spec.kind, o.spec.type) != (first.kind, first.type) for o in self.outputs):
            raise DefinitionError("the outputs given to OneOf must all have the same type", where)
        self.group = wrapper
        wrapper.oneofs.append(self)
        self.name = f"pipelinechannel--{wrapper.name}-oneof-{len(wrapper.oneofs)}"
        self.kind, self.type = first.kind, first.type
        self.spec = IOSpec(self.name, first.kind, first.type, first.schema_version)

    @property
    def input_name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"OneOf({', '.join(map(repr, self.outputs))})"


class Collected:
    """`Collected(task.output)` after a ParallelFor: the outputs of every iteration, as a list."""

    def __init__(self, output: Channel) -> None:
        if not isinstance(output, TaskOutput):
            raise DefinitionError(
                f"Collected takes a task output inside a ParallelFor, got {output!r}", "Collected"
            )
        self.output = output

    @property
    def input_name(self) -> str:
        return self.output.input_name

    def spec(self) -> IOSpec:
        inner = self.output.spec
        if inner.kind == "artifact":
            return IOSpec(self.input_name, "artifact", inner.type, inner.schema_version, is_list=True)
        return IOSpec(self.input_name, "parameter", "LIST")

    def __repr__(self) -> str:
        return f"Collected({self.output!r})"


class Condition:
    """`left op right`, one of them a channel; `negate` for the branches after it (Elif, Else)."""

    def __init__(self, op: str, left: Any, right: Any, negate: bool = False) -> None:
        if isinstance(right, Collected) or isinstance(left, Collected):
            raise DefinitionError("a Collected list cannot be compared", "If")
        self.op, self.left, self.right, self.negate = op, left, right, negate
        for item, other in ((left, right), (right, left)):
            if isinstance(item, LoopItem) and item.type is None and type(other) in _CONSTANT_TYPES:
                item.loop.used_types.setdefault(item.field, _CONSTANT_TYPES[type(other)])

    def negated(self) -> Condition:
        return Condition(self.op, self.left, self.right, not self.negate)

    def channels(self) -> list[Channel]:
        return [v for v in (self.left, self.right) if isinstance(v, Channel)]

    def __bool__(self) -> bool:
        message = "a condition on pipeline values is only known at run time; use `with If(...)`"
        raise DefinitionError(message, _where("If"))


class Outputs(Mapping[str, TaskOutput]):
    """`task.outputs`: the task's outputs by name; a wrong name is a DefinitionError naming the task."""

    def __init__(self, task: PipelineTask) -> None:
        self._task = task

    def __getitem__(self, name: str) -> TaskOutput:
        specs = self._task.component.outputs
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise DefinitionError(
                f"task {self._task.name!r} (component {self._task.component.name!r}) has no output {name!r};"
                f" its outputs: {known}",
                self._task.graph.name,
            )
        return TaskOutput(self._task, specs[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._task.component.outputs)

    def __len__(self) -> int:
        return len(self._task.component.outputs)


class Group:
    """A nested DAG of the pipeline: the root, a condition, the branches of If/Elif/Else, a loop, an exit
    handler's body. Its `children` are tasks and groups in the order they were defined."""

    def __init__(self, graph: Graph, kind: str, display_name: str | None = None, parent: Group | None = None):
        self.graph, self.kind, self.parent = graph, kind, parent
        self.display_name = display_name
        self.name = "root" if parent is None else graph.group_name(kind)
        self.children: list[PipelineTask | Group] = []
        self.conditions: list[Condition] = []
        self.items: Channel | list[Any] | None = None
        self.item_input = ""
        self.parallelism = 0
        self.exit_task: PipelineTask | None = None
        self.item_type = "STRING"  # the IR type of a loop's item input (kfp's choice when not known)
        self.item_artifact: IOSpec | None = None  # the item input of a loop over a list of artifacts
        # Types of a loop item (None) and its fields, learnt from where they are used: the engine checks the
        # inputs of nested DAGs, and an item of a list-typed input has no declared type.
        self.used_types: dict[str | None, str] = {}
        self.branch = ""  # "if", "elif" or "else" for a condition
        self.oneofs: list[OneOf] = []  # OneOf outputs of a condition-branches group
        self.negated_upstream: list[Condition] = []  # for the Elif/Else after this branch

    def ancestors(self) -> list[Group]:
        """This group and its parents, innermost first."""
        chain: list[Group] = []
        group: Group | None = self
        while group is not None:
            chain.append(group)
            group = group.parent
        return chain

    def __repr__(self) -> str:
        return f"Group({self.name})"


class Graph:
    """A pipeline under construction: its inputs, its groups and tasks, and the names given so far."""

    def __init__(self, name: str, inputs: dict[str, IOSpec]) -> None:
        self.name = name
        self.inputs = inputs
        self._ids = itertools.count(1)
        self.task_names: set[str] = set()
        self.root = Group(self, "root")
        self.stack: list[Group] = [self.root]
        self.outputs: dict[str, Channel | Collected] = {}

    def next_id(self) -> int:
        return next(self._ids)

    @property
    def current(self) -> Group:
        return self.stack[-1]

    def group_name(self, kind: str) -> str:
        """`<kind>-<next id>`, as kfp numbers groups, never the name of a task (a component `condition`)."""
        name = f"{kind}-{self.next_id()}"
        while name in self.task_names:
            name = f"{kind}-{self.next_id()}"
        self.task_names.add(name)
        return name

    def task_name(self, base: str) -> str:
        name, number = base, 1
        while name in self.task_names:
            number += 1
            name = f"{base}-{number}"
        self.task_names.add(name)
        return name

    def add(self, child: PipelineTask | Group) -> None:
        self.current.children.append(child)


_BUILDING: list[Graph] = []


def _where(default: str) -> str:
    return _BUILDING[-1].name if _BUILDING else default


def current_graph() -> Graph | None:
    """The pipeline whose function is running, or None outside any pipeline."""
    return _BUILDING[-1] if _BUILDING else None


@contextmanager
def building(graph: Graph) -> Iterator[Graph]:
    """Components called inside the block add tasks to `graph`."""
    _BUILDING.append(graph)
    try:
        yield graph
    finally:
        _BUILDING.pop()


def check_argument(spec: IOSpec, value: Any, where: str) -> Any:
    """`value` for the input `spec`, checked: a channel of the right kind and type, or a fitting constant."""
    if isinstance(value, Collected):
        inner = value.spec()
        ok = spec.is_list if spec.kind == "artifact" else spec.type == "LIST"
        if not ok or inner.kind != spec.kind:
            raise DefinitionError(f"input {spec.name!r} does not take a list ({value!r})", where)
        return value
    if isinstance(value, LoopItem) and value.type is None and spec.kind == "parameter":
        value.loop.used_types.setdefault(value.field, spec.type)
    if isinstance(value, Channel):
        if value.kind != spec.kind:
            raise DefinitionError(
                f"input {spec.name!r} takes a {spec.kind}, got the {value.kind} {value!r}", where
            )
        if spec.kind == "artifact":
            if not artifacts_compatible(str(value.type), spec.type) or value.is_list != spec.is_list:
                raise DefinitionError(
                    f"input {spec.name!r} takes a {spec.type}, got {value.type} ({value!r})", where
                )
        elif not parameters_compatible(value.type, spec.type):
            wanted, given = describe_type(spec.type), describe_type(str(value.type))
            raise DefinitionError(f"input {spec.name!r} takes {wanted}, got {given} ({value!r})", where)
        return value
    if isinstance(value, Condition):
        raise DefinitionError(f"input {spec.name!r} got a condition; conditions go in `with If(...)`", where)
    if spec.kind == "artifact":
        raise DefinitionError(
            f"input {spec.name!r} takes an artifact (a task output or pipeline input), got {value!r}", where
        )
    if not is_value_of(value, spec.type):
        raise DefinitionError(f"input {spec.name!r} takes {describe_type(spec.type)}, got {value!r}", where)
    return json_value(list(value) if isinstance(value, tuple) else value, f"{where}: input {spec.name!r}")
