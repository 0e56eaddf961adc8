"""Control flow inside a pipeline, as in kfp: If/Elif/Else, ParallelFor, ExitHandler."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from runner.dsl.building import (
    Channel,
    Collected,
    Condition,
    Graph,
    Group,
    LoopItem,
    PipelineInput,
    TaskOutput,
    current_graph,
)
from runner.dsl.errors import DefinitionError
from runner.dsl.tasks import PipelineTask
from runner.dsl.types import IOSpec, json_value


def _graph(what: str) -> Graph:
    graph = current_graph()
    if graph is None:
        raise DefinitionError(f"{what} can only be used inside a @pipeline function", what)
    return graph


class _GroupScope:
    """Enters a group: tasks created inside the `with` block belong to it."""

    group: Group

    def _push(self, graph: Graph, group: Group) -> None:
        self.graph, self.group = graph, group
        graph.stack.append(group)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.graph.stack.pop()


def _condition(condition: Any, what: str) -> Condition:
    if isinstance(condition, bool):
        raise DefinitionError(
            f"got the constant {condition}: one side of the comparison must be a task output or a pipeline"
            " parameter",
            what,
        )
    if not isinstance(condition, Condition):
        raise DefinitionError(f"expected a comparison such as `task.output > 1`, got {condition!r}", what)
    return condition


class If(_GroupScope):
    """`with If(task.output == "yes"):` runs the block's tasks only when the condition holds."""

    def __init__(self, condition: Condition, name: str | None = None) -> None:
        self.condition, self.name = _condition(condition, "If"), name

    def __enter__(self) -> If:
        graph = _graph("If")
        group = Group(graph, "condition", self.name, parent=graph.current)
        group.conditions = [self.condition]
        group.branch = "if"
        group.negated_upstream = [self.condition.negated()]
        graph.add(group)
        self._push(graph, group)
        return self


def _previous_branch(graph: Graph, what: str) -> tuple[Group, Group]:
    """(the branches group, its last branch) that an Elif/Else continues, wrapping a lone If when needed."""
    siblings = graph.current.children
    last = siblings[-1] if siblings else None
    if isinstance(last, Group) and last.kind == "condition-branches":
        branch = last.children[-1]
        assert isinstance(branch, Group)
        if branch.branch == "else":
            raise DefinitionError(f"{what} cannot follow an Else", what)
        return last, branch
    if not isinstance(last, Group) or last.branch not in ("if", "elif"):
        raise DefinitionError(f"{what} must directly follow an If or Elif block", what)
    # kfp wraps If/Elif/Else in a condition-branches DAG, numbered before the If it wraps.
    wrapper = Group(graph, "condition-branches", parent=graph.current)
    names = (last.name, wrapper.name)
    wrapper.name = "condition-branches-" + names[0].rsplit("-", 1)[1]
    last.name = "condition-" + names[1].rsplit("-", 1)[1]
    graph.task_names.difference_update(names)
    graph.task_names.update((wrapper.name, last.name))
    siblings[-1] = wrapper
    last.parent = wrapper
    wrapper.children.append(last)
    return wrapper, last


class Elif(_GroupScope):
    """`with Elif(...)`: after an If or Elif; runs when no branch before it ran and its condition holds."""

    def __init__(self, condition: Condition, name: str | None = None) -> None:
        self.condition, self.name = _condition(condition, "Elif"), name

    def __enter__(self) -> Elif:
        graph = _graph("Elif")
        wrapper, previous = _previous_branch(graph, "Elif")
        group = Group(graph, "condition", self.name, parent=wrapper)
        group.conditions = [*previous.negated_upstream, self.condition]
        group.branch = "elif"
        group.negated_upstream = [*previous.negated_upstream, self.condition.negated()]
        wrapper.children.append(group)
        self._push(graph, group)
        return self


class Else(_GroupScope):
    """`with Else():` after an If or Elif; runs when no branch before it ran."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def __enter__(self) -> Else:
        graph = _graph("Else")
        wrapper, previous = _previous_branch(graph, "Else")
        group = Group(graph, "condition", self.name, parent=wrapper)
        group.conditions = list(previous.negated_upstream)
        group.branch = "else"
        wrapper.children.append(group)
        self._push(graph, group)
        return self


_ITEM_TYPES = ((bool, "BOOLEAN"), (int, "NUMBER_INTEGER"), (float, "NUMBER_DOUBLE"), (str, "STRING"))


def _raw_item_type(items: list[Any]) -> str:
    first = items[0] if items else ""
    for python_type, ir_type in _ITEM_TYPES:
        if isinstance(first, python_type):
            return ir_type
    return "STRUCT" if isinstance(first, dict) else "LIST"


class ParallelFor(_GroupScope):
    """`with ParallelFor(items, parallelism=2) as item:` runs the block once per item, at most
    `parallelism` at a time (0: no limit). `items` is a list, a list-typed pipeline input or output, or a
    list of artifacts (an `Input[list[Dataset]]` pipeline input, a nested pipeline's Collected output): then
    the item is an artifact."""

    def __init__(self, items: Any, parallelism: int | None = None, name: str | None = None) -> None:
        if isinstance(items, Collected):
            raise DefinitionError(
                "ParallelFor cannot take a Collected list directly (nor can kfp's); return it from a nested"
                " @pipeline and loop over that pipeline's output",
                "ParallelFor",
            )
        if isinstance(items, Channel):
            if items.kind == "artifact":
                if not items.is_list or not isinstance(items, PipelineInput | TaskOutput):
                    raise DefinitionError(
                        f"ParallelFor over artifacts needs a list of artifacts (an Input[list[Dataset]]"
                        f" pipeline input or a pipeline's Collected output), got {items!r}",
                        "ParallelFor",
                    )
            elif items.type not in (None, "LIST"):
                raise DefinitionError(
                    f"ParallelFor needs a list, got {items!r} of type {items.type}", "ParallelFor"
                )
        elif isinstance(items, list | tuple):
            items = json_value(list(items), "ParallelFor items")
        else:
            raise DefinitionError(
                f"ParallelFor needs a list or a list-typed channel, got {items!r}", "ParallelFor"
            )
        if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 0):
            raise DefinitionError(f"parallelism must be an int >= 0, got {parallelism!r}", "ParallelFor")
        self.items, self.parallelism, self.name = items, parallelism or 0, name

    def __enter__(self) -> LoopItem:
        graph = _graph("ParallelFor")
        if isinstance(self.items, PipelineInput | TaskOutput) and self.items.kind == "artifact":
            group = Group(graph, "for-loop", self.name, parent=graph.current)
            group.item_input = f"{self.items.input_name}-loop-item"
            listed = self.items.spec
            group.item_artifact = IOSpec(group.item_input, "artifact", listed.type, listed.schema_version)
            item = LoopItem(group, listed.type)
        elif isinstance(self.items, Channel):
            group = Group(graph, "for-loop", self.name, parent=graph.current)
            group.item_input = f"{self.items.input_name}-loop-item"
            item = LoopItem(group, None)
        else:
            item_id = graph.next_id()  # kfp numbers the item before its loop
            group = Group(graph, "for-loop", self.name, parent=graph.current)
            group.item_input = f"pipelinechannel--loop-item-param-{item_id}"
            group.item_type = _raw_item_type(self.items)
            item = LoopItem(group, group.item_type)
        group.items, group.parallelism = self.items, self.parallelism
        graph.add(group)
        self._push(graph, group)
        return item


class ExitHandler(_GroupScope):
    """`with ExitHandler(exit_task):` runs `exit_task` (created just before) once the block's tasks are
    done, whether they succeeded or not; a PipelineTaskFinalStatus input of it tells how they ended."""

    def __init__(self, exit_task: PipelineTask, name: str | None = None) -> None:
        if not isinstance(exit_task, PipelineTask):
            raise DefinitionError(f"ExitHandler takes a task, got {exit_task!r}", "ExitHandler")
        self.exit_task, self.name = exit_task, name

    def __enter__(self) -> ExitHandler:
        graph = _graph("ExitHandler")
        task = self.exit_task
        if task.group is not graph.current or task not in graph.current.children:
            raise DefinitionError(
                f"the exit task {task.name!r} must be created just before, in the same block", "ExitHandler"
            )
        if any(isinstance(g, Group) and g.exit_task is task for g in graph.current.children):
            raise DefinitionError(f"task {task.name!r} already is an exit task", "ExitHandler")
        group = Group(graph, "exit-handler", self.name, parent=graph.current)
        group.exit_task = task
        graph.add(group)
        self._push(graph, group)
        return self
