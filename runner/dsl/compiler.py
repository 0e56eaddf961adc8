"""A built pipeline graph as KFP IR: one DAG per group, values threaded into nested DAGs as kfp does
(`pipelinechannel--<task>-<output>` inputs), loop outputs surfaced for Collected, conditions in CEL."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from runner.dsl import kubernetes
from runner.dsl.building import (
    Channel,
    Collected,
    Condition,
    Graph,
    Group,
    LoopItem,
    OneOf,
    PipelineInput,
    TaskOutput,
)
from runner.dsl.document import Document
from runner.dsl.errors import DefinitionError
from runner.dsl.tasks import PipelineTask
from runner.dsl.types import IOSpec, interface_ir

Binding = tuple[dict[str, Any], str | None]  # the input's IR, and the sibling it depends on


def child_of(scope: Group, node: PipelineTask | Group) -> PipelineTask | Group | None:
    """The child of `scope` that is `node` or contains it; None when `node` is outside `scope`."""
    current: PipelineTask | Group = node
    parent = node.group if isinstance(node, PipelineTask) else node.parent
    while parent is not None and parent is not scope:
        current, parent = parent, parent.parent
    return current if parent is scope else None


def _common_group(a: Group, b: Group) -> Group:
    b_chain = [id(g) for g in b.ancestors()]
    return next(g for g in a.ancestors() if id(g) in b_chain)


def _value_spec(name: str, value: Channel | Collected) -> IOSpec:
    if isinstance(value, Collected):
        return value.spec()
    if isinstance(value, PipelineInput | TaskOutput | OneOf):
        s = value.spec
        return IOSpec(name, s.kind, s.type, s.schema_version, s.is_list)
    assert isinstance(value, LoopItem)
    artifact = value.loop.item_artifact
    if artifact is not None:
        return IOSpec(name, "artifact", artifact.type, artifact.schema_version)
    return IOSpec(name, "parameter", _item_type(value))


def _item_type(item: LoopItem) -> str:
    if item.type is not None:
        return item.type
    return item.loop.used_types.get(item.field) or ("STRING" if item.field else item.loop.item_type)


class GraphCompiler:
    """Compiles one graph into `doc`; `run()` returns the root component (dag and interface)."""

    def __init__(self, graph: Graph, doc: Document) -> None:
        self.graph, self.doc = graph, doc
        # group -> output name -> ([(producer child, its output key)...], spec): several for a OneOf
        self.surfaced: dict[int, dict[str, tuple[list[tuple[str, str]], IOSpec]]] = defaultdict(dict)
        self.extra_deps: dict[int, set[str]] = defaultdict(set)
        self.exit_of: dict[int, Group] = {}

    def run(self) -> dict[str, Any]:
        if not self.graph.root.children:
            raise DefinitionError("the pipeline has no tasks", self.graph.name)
        self._prepare(self.graph.root)
        for value in self.graph.outputs.values():
            if isinstance(value, Collected):
                self._surface(value, self.graph.root)
            if isinstance(value, OneOf):
                self._surface_oneof(value)
        component, needs = self._dag(self.graph.root)
        if needs:
            raise DefinitionError(f"uses {next(iter(needs.values()))!r} of another pipeline", self.graph.name)
        arts, params = self._root_outputs()
        if arts or params:
            component["dag"]["outputs"] = {
                k: v for k, v in (("artifacts", arts), ("parameters", params)) if v
            }
        specs = {n: _value_spec(n, v) for n, v in self.graph.outputs.items()}
        component["inputDefinitions"] = interface_ir(self.graph.inputs)
        component["outputDefinitions"] = interface_ir(specs)
        return {k: v for k, v in component.items() if v}

    # -- before the DAGs: what crosses group boundaries -------------------------------------------------

    def _prepare(self, group: Group) -> None:
        for child in group.children:
            if isinstance(child, Group):
                if child.exit_task is not None:
                    self.exit_of[id(child.exit_task)] = child
                self._prepare(child)
                continue
            for value in child.arguments.values():
                if isinstance(value, Collected):
                    self._surface(value, child.group)
                if isinstance(value, OneOf):
                    self._surface_oneof(value)
            for upstream in child.upstream:
                if upstream.graph is not self.graph:
                    raise DefinitionError(f"runs after {upstream!r} of another pipeline", child.where)
                common = _common_group(child.group, upstream.group)
                before, after = child_of(common, upstream), child_of(common, child)
                assert before is not None and after is not None
                self.extra_deps[id(after)].add(before.name)

    def _surface(self, value: Collected, consumer: Group) -> None:
        """Declare the loops between a Collected output's task and its consumer as DAG outputs."""
        task = value.output.task
        common = _common_group(consumer, task.group)
        chain = task.group.ancestors()
        chain = chain[: [id(g) for g in chain].index(id(common))]
        if not chain:
            raise DefinitionError(f"{value!r} is used inside the ParallelFor that produces it", task.where)
        # Inside a loop, an If leaves a hole where its condition was false: the list just has fewer items.
        loop_at = max((i for i, g in enumerate(chain) if g.kind == "for-loop"), default=-1)
        inner, key = task.name, value.output.spec.name
        for index, group in enumerate(chain):
            conditional = group.kind in ("condition", "condition-branches") and index < loop_at
            if group.kind not in ("for-loop", "exit-handler") and not conditional:
                raise DefinitionError(
                    f"{value!r} cannot leave the {group.kind} {group.name} outside a ParallelFor", task.where
                )
            self.surfaced[id(group)][value.input_name] = ([(inner, key)], value.spec())
            inner, key = group.name, value.input_name

    def _surface_oneof(self, value: OneOf) -> None:
        """Each branch gives its task's output; the branches DAG gives the one of the branch that ran."""
        sources = []
        for output in value.outputs:
            branch = output.task.group
            spec = IOSpec(output.input_name, output.kind, str(output.type), output.spec.schema_version)
            self.surfaced[id(branch)][output.input_name] = ([(output.task.name, output.spec.name)], spec)
            sources.append((branch.name, output.input_name))
        self.surfaced[id(value.group)][value.name] = (sources, value.spec)

    # -- DAGs ------------------------------------------------------------------------------------------

    def _dag(self, group: Group) -> tuple[dict[str, Any], dict[str, Channel | Collected]]:
        """The component of `group` and what it needs from its parent DAG (input name -> value)."""
        needs: dict[str, Channel | Collected] = {}
        for condition in group.conditions:
            for channel in condition.channels():
                needs[channel.input_name] = channel
        if isinstance(group.items, Channel):
            needs[group.items.input_name] = group.items
        tasks: dict[str, Any] = {}
        for child in group.children:
            tasks[child.name] = (
                self._task(child, group, needs)
                if isinstance(child, PipelineTask)
                else self._group_task(child, group, needs)
            )
        _check_acyclic(tasks, f"{self.graph.name}: {group.name}")
        dag: dict[str, Any] = {"tasks": tasks}
        surfaced = self.surfaced.get(id(group), {})
        params: dict[str, Any] = {}
        arts: dict[str, Any] = {}
        for name, (sources, spec) in surfaced.items():
            if spec.kind == "artifact":
                selectors = [{"producerSubtask": p, "outputArtifactKey": k} for p, k in sources]
                arts[name] = {"artifactSelectors": selectors}
                continue
            selectors = [{"producerSubtask": p, "outputParameterKey": k} for p, k in sources]
            one = len(selectors) == 1
            params[name] = (
                {"valueFromParameter": selectors[0]}
                if one
                else {"valueFromOneof": {"parameterSelectors": selectors}}
            )
        if params or arts:
            dag["outputs"] = {k: v for k, v in (("artifacts", arts), ("parameters", params)) if v}
        inputs = {n: _value_spec(n, v) for n, v in needs.items()}
        if group.kind == "for-loop":
            inputs[group.item_input] = group.item_artifact or IOSpec(
                group.item_input, "parameter", group.item_type
            )
        component: dict[str, Any] = {"dag": dag}
        if inputs:
            component["inputDefinitions"] = interface_ir(inputs)
        if surfaced:
            component["outputDefinitions"] = interface_ir({n: s for n, (_, s) in surfaced.items()})
        return component, needs

    def _task(
        self, task: PipelineTask, scope: Group, needs: dict[str, Channel | Collected]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {}
        arts: dict[str, Any] = {}
        deps = set(self.extra_deps.get(id(task), ()))
        for name, value in task.arguments.items():
            if isinstance(value, Channel | Collected):
                binding, dep = self._bind(value, scope, needs, task.where)
                kind = value.spec().kind if isinstance(value, Collected) else value.kind
                (params if kind == "parameter" else arts)[name] = binding
                if dep:
                    deps.add(dep)
            else:
                params[name] = {"runtimeValue": {"constant": value}}

        def bind(channel: Channel) -> dict[str, Any]:
            binding, dep = self._bind(channel, scope, needs, task.where)
            if dep:
                deps.add(dep)
            return binding

        settings = kubernetes.resolve(task.kubernetes, bind)
        node: dict[str, Any] = {
            "cachingOptions": {"enableCache": True} if task.enable_caching else {},
            "componentRef": {"name": task.component.register(self.doc, task, settings)},
            "taskInfo": {"name": task.display_name or task.name},
        }
        handler = self.exit_of.get(id(task))
        if handler is not None:
            deps.add(handler.name)
            node["triggerPolicy"] = {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
            for name, spec in task.component.inputs.items():
                if spec.type == "TASK_FINAL_STATUS":
                    params[name] = {"taskFinalStatus": {"producerTask": handler.name}}
        elif task.trigger_strategy:
            node["triggerPolicy"] = {"strategy": task.trigger_strategy}
        if task.retry:
            node["retryPolicy"] = task.retry
        return _finish(node, params, arts, deps)

    def _group_task(
        self, group: Group, scope: Group, needs: dict[str, Channel | Collected]
    ) -> dict[str, Any]:
        component, child_needs = self._dag(group)
        params: dict[str, Any] = {}
        arts: dict[str, Any] = {}
        deps = set(self.extra_deps.get(id(group), ()))
        for name, value in child_needs.items():
            binding, dep = self._bind(value, scope, needs, f"{self.graph.name}: {group.name}")
            (params if _value_spec(name, value).kind == "parameter" else arts)[name] = binding
            if dep:
                deps.add(dep)
        node: dict[str, Any] = {
            "componentRef": {"name": self.doc.add_component(group.name, component)},
            "taskInfo": {"name": group.display_name or group.name},
        }
        if group.kind == "condition":
            node["triggerPolicy"] = {"condition": " && ".join(_cel(c) for c in group.conditions)}
        if group.kind == "for-loop":
            items = group.items
            if group.item_artifact is not None:
                assert isinstance(items, Channel)
                iterator = {"artifactIterator": {"inputArtifact": items.input_name}}
            elif isinstance(items, Channel):
                iterator = {"parameterIterator": {"inputParameter": items.input_name}}
            else:
                iterator = {"parameterIterator": {"raw": json.dumps(items)}}
            for key, source in iterator.items():
                node[key] = {"itemInput": group.item_input, "items": source}
            if group.parallelism:
                node["iteratorPolicy"] = {"parallelismLimit": group.parallelism}
        return _finish(node, params, arts, deps)

    def _bind(
        self, value: Channel | Collected, scope: Group, needs: dict[str, Channel | Collected], where: str
    ) -> Binding:
        """How `value` reaches an input of a task in `scope`'s DAG; what the DAG must get from outside goes
        into `needs`."""
        if isinstance(value, LoopItem):
            if value.loop is scope:
                kind = "Artifact" if value.kind == "artifact" else "Parameter"
                binding: dict[str, Any] = {f"componentInput{kind}": scope.item_input}
                if value.field:
                    binding["parameterExpressionSelector"] = f'parseJson(string_value)["{value.field}"]'
                return binding, None
            if all(g is not value.loop for g in scope.ancestors()):
                raise DefinitionError(f"the {value!r} is used outside its ParallelFor", where)
            needs[value.input_name] = value
            kind = "Artifact" if value.kind == "artifact" else "Parameter"
            return {f"componentInput{kind}": value.input_name}, None
        channel = value.output if isinstance(value, Collected) else value
        kind = "Parameter" if channel.kind == "parameter" else "Artifact"
        owner = (
            channel.graph
            if isinstance(channel, PipelineInput)
            else channel.group.graph
            if isinstance(channel, OneOf)
            else channel.task.graph  # type: ignore[attr-defined]
        )
        if owner is not self.graph:
            raise DefinitionError(f"uses {channel!r}, which belongs to pipeline {owner.name!r}", where)
        if isinstance(channel, PipelineInput):
            if scope.parent is None:
                return {f"componentInput{kind}": channel.spec.name}, None
            needs[value.input_name] = value
            return {f"componentInput{kind}": value.input_name}, None
        if isinstance(channel, OneOf):
            child = child_of(scope, channel.group)
            if child is None:
                needs[value.input_name] = value
                return {f"componentInput{kind}": value.input_name}, None
            if child is not channel.group:
                raise DefinitionError(f"uses {channel!r} outside the DAG of its If/Elif/Else", where)
            return {
                f"taskOutput{kind}": {f"output{kind}Key": channel.name, "producerTask": child.name}
            }, child.name
        assert isinstance(channel, TaskOutput)
        child = child_of(scope, channel.task)
        if child is None:
            needs[value.input_name] = value
            return {f"componentInput{kind}": value.input_name}, None
        if isinstance(value, Collected):
            key = value.input_name
        elif child is channel.task:
            key = channel.spec.name
        else:
            assert isinstance(child, Group)
            raise DefinitionError(
                f"uses {channel!r}, which runs inside {child.kind} {child.name!r}; outside a ParallelFor"
                " use Collected(...)",
                where,
            )
        ref = {f"output{kind}Key": key, "producerTask": child.name}
        return {f"taskOutput{kind}": ref}, child.name

    def _root_outputs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        arts: dict[str, Any] = {}
        params: dict[str, Any] = {}
        root = self.graph.root
        for name, value in self.graph.outputs.items():
            binding, producer = self._bind(value, root, {}, f"{self.graph.name}: output {name!r}")
            ref = next(iter(binding.values()))
            if producer is None or not isinstance(ref, dict):
                raise DefinitionError(
                    f"output {name!r} must be a task output, got {value!r}", self.graph.name
                )
            if "outputParameterKey" in ref:
                selector = {"producerSubtask": producer, "outputParameterKey": ref["outputParameterKey"]}
                params[name] = {"valueFromParameter": selector}
            else:
                selector = {"producerSubtask": producer, "outputArtifactKey": ref["outputArtifactKey"]}
                arts[name] = {"artifactSelectors": [selector]}
        return arts, params


def _finish(
    node: dict[str, Any], params: dict[str, Any], arts: dict[str, Any], deps: set[str]
) -> dict[str, Any]:
    inputs = {k: v for k, v in (("artifacts", arts), ("parameters", params)) if v}
    if inputs:
        node["inputs"] = inputs
    if deps:
        node["dependentTasks"] = sorted(deps)
    return node


def _check_acyclic(tasks: dict[str, Any], where: str) -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise DefinitionError(f"the tasks form a cycle: {' -> '.join(cycle)}", where)
        state[name] = 1
        for dep in tasks[name].get("dependentTasks", []):
            visit(dep, [*path, name])
        state[name] = 2

    for name in tasks:
        visit(name, [])


# -- conditions as CEL, as kfp writes them -------------------------------------------------------------

_PRECEDENCE = ("STRING", "BOOLEAN", "NUMBER_DOUBLE", "NUMBER_INTEGER")


def _constant_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "NUMBER_INTEGER"
    if isinstance(value, float):
        return "NUMBER_DOUBLE"
    if isinstance(value, str):
        return "STRING"
    raise DefinitionError(f"a condition compares str, int, float or bool values, not {value!r}", "If")


def _cel(condition: Condition) -> str:
    operands = (condition.left, condition.right)
    types = []
    for value in operands:
        if isinstance(value, Channel):
            ptype = _item_type(value) if isinstance(value, LoopItem) else value.type
            if ptype in ("LIST", "STRUCT", "TASK_FINAL_STATUS"):
                raise DefinitionError(
                    f"a condition compares str, int, float or bool values, not {value!r}", "If"
                )
            types.append(ptype)
        else:
            types.append(_constant_type(value))
    known = [t for t in types if t is not None]
    canonical = min(known, key=_PRECEDENCE.index) if known else "STRING"
    texts = []
    for value, ptype in zip(operands, types, strict=True):
        ptype = ptype or canonical
        if isinstance(value, Channel):
            text = f"inputs.parameter_values['{value.input_name}']"
            text = f"int({text})" if ptype == "NUMBER_INTEGER" else text
            if ptype != canonical:
                text = f"string({text})" if canonical == "STRING" else f"double({text})"
        elif isinstance(value, str):
            text = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        else:
            text = str(value).lower() if isinstance(value, bool) else repr(value)
            if ptype != canonical:
                text = f"'{text}'" if canonical == "STRING" else f"double({text})"
        texts.append(text)
    expression = f"{texts[0]} {condition.op} {texts[1]}"
    return f"!({expression})" if condition.negate else expression
