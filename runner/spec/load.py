"""Load a PipelineSpec YAML (compiled by kfp 2.x or flow) into the typed model; errors name the place."""

from __future__ import annotations

import dataclasses
import graphlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends.base import Resources
from runner.errors import ParameterError, SpecError
from runner.layout import is_safe_name
from runner.spec.digests import component_digests
from runner.spec.model import (
    NO_DEFAULT,
    PARAMETER_TYPES,
    ArtifactBinding,
    ArtifactDef,
    Component,
    Container,
    Dag,
    Importer,
    Interface,
    Iterator,
    OutputSelector,
    ParameterBinding,
    ParameterDef,
    PipelineSpec,
    RetryPolicy,
    Task,
)
from runner.spec.parameter_types import check_parameter
from runner.spec.quantities import input_placeholder, parse_count, parse_cpu, parse_memory
from runner.spec.schema import SchemaError, check_pipeline, check_platform
from runner.spec.workspace import check_placeholder_use, workspace_config
from runner.spec.yamldoc import parse_documents

_GB = 10**9
# The IR versions kfp 2.x compiles (2.0.0 up to kfp 2.0, 2.1.0 since); a later one may mean what flow
# misreads.
_SCHEMA_VERSION = re.compile(r"2\.[01]\.[0-9]+")


class _Loader:
    """Walks the YAML document; `self.source` prefixes every error's location."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, message: str, path: str) -> SpecError:
        return SpecError(message, f"{self.source}: {path}" if path else self.source)

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(f"expected a mapping, got {type(value).__name__}", path)
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error("expected a non-empty string", path)
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error("expected a list of strings", path)
        return tuple(value)

    # -- interfaces -------------------------------------------------------------------------------

    def interface(self, node: Any, path: str) -> Interface:
        node = self.mapping(node, path)
        params: dict[str, ParameterDef] = {}
        for name, p in self.mapping(node.get("parameters"), f"{path}.parameters").items():
            ppath = f"{path}.parameters.{name}"
            p = self.mapping(p, ppath)
            ptype = p.get("parameterType")
            if ptype not in PARAMETER_TYPES:
                raise self.error(f"unknown parameterType {ptype!r}", f"{ppath}.parameterType")
            default = p.get("defaultValue", NO_DEFAULT)
            if default is not NO_DEFAULT and ptype != "TASK_FINAL_STATUS":
                try:
                    default = check_parameter(default, ptype, f"{ppath}.defaultValue")
                except ParameterError as exc:
                    problem = f"a default that is not a {ptype}: {exc.message}"
                    raise self.error(problem, f"{ppath}.defaultValue") from None
            params[name] = ParameterDef(
                name=name, type=ptype, default=default, optional=bool(p.get("isOptional", False))
            )
        artifacts: dict[str, ArtifactDef] = {}
        for name, a in self.mapping(node.get("artifacts"), f"{path}.artifacts").items():
            apath = f"{path}.artifacts.{name}"
            a = self.mapping(a, apath)
            atype = self.mapping(a.get("artifactType"), f"{apath}.artifactType")
            artifacts[name] = ArtifactDef(
                name=name,
                schema_title=str(atype.get("schemaTitle", "system.Artifact")),
                schema_version=str(atype.get("schemaVersion", "0.0.1")),
                is_list=bool(a.get("isArtifactList", False)),
                optional=bool(a.get("isOptional", False)),
            )
        return Interface(parameters=params, artifacts=artifacts)

    # -- tasks ------------------------------------------------------------------------------------

    def parameter_binding(self, node: Any, path: str) -> ParameterBinding:
        node = self.mapping(node, path)
        selector = node.get("parameterExpressionSelector") or None
        if "runtimeValue" in node:
            runtime = self.mapping(node["runtimeValue"], f"{path}.runtimeValue")
            return ParameterBinding("constant", constant=runtime.get("constant"), selector=selector)
        if "componentInputParameter" in node:
            key = self.string(node["componentInputParameter"], f"{path}.componentInputParameter")
            return ParameterBinding("component_input", key=key, selector=selector)
        if "taskOutputParameter" in node:
            out = self.mapping(node["taskOutputParameter"], f"{path}.taskOutputParameter")
            return ParameterBinding(
                "task_output",
                key=self.string(
                    out.get("outputParameterKey"), f"{path}.taskOutputParameter.outputParameterKey"
                ),
                producer=self.string(out.get("producerTask"), f"{path}.taskOutputParameter.producerTask"),
                selector=selector,
            )
        if "taskFinalStatus" in node:
            status = self.mapping(node["taskFinalStatus"], f"{path}.taskFinalStatus")
            producer = self.string(status.get("producerTask"), f"{path}.taskFinalStatus.producerTask")
            return ParameterBinding("task_final_status", producer=producer)
        raise self.error(
            "parameter input has no runtimeValue, componentInputParameter or taskOutputParameter", path
        )

    def artifact_binding(self, node: Any, path: str) -> ArtifactBinding:
        node = self.mapping(node, path)
        if "taskOutputArtifact" in node:
            out = self.mapping(node["taskOutputArtifact"], f"{path}.taskOutputArtifact")
            return ArtifactBinding(
                "task_output",
                key=self.string(out.get("outputArtifactKey"), f"{path}.taskOutputArtifact.outputArtifactKey"),
                producer=self.string(out.get("producerTask"), f"{path}.taskOutputArtifact.producerTask"),
            )
        if "componentInputArtifact" in node:
            key = self.string(node["componentInputArtifact"], f"{path}.componentInputArtifact")
            return ArtifactBinding("component_input", key=key)
        raise self.error("artifact input has no taskOutputArtifact or componentInputArtifact", path)

    def iterator(self, task: Mapping[str, Any], path: str) -> Iterator | None:
        policy = self.mapping(task.get("iteratorPolicy"), f"{path}.iteratorPolicy")
        limit = _integer(policy.get("parallelismLimit", 0))
        if limit < 0:
            raise self.error(
                "a parallelism limit cannot be negative", f"{path}.iteratorPolicy.parallelismLimit"
            )
        if "parameterIterator" in task:
            ipath = f"{path}.parameterIterator"
            it = self.mapping(task["parameterIterator"], ipath)
            items = self.mapping(it.get("items"), f"{ipath}.items")
            item_input = self.string(it.get("itemInput"), f"{ipath}.itemInput")
            if "raw" in items:
                raw = self.string(items["raw"], f"{ipath}.items.raw")
                try:
                    listed = json.loads(raw)
                except ValueError:
                    listed = None
                if not isinstance(listed, list):
                    raise self.error("the items to loop over are not a JSON list", f"{ipath}.items.raw")
                return Iterator("parameter", item_input, raw=raw, parallelism=limit)
            name = self.string(items.get("inputParameter"), f"{ipath}.items.inputParameter")
            return Iterator("parameter", item_input, input_name=name, parallelism=limit)
        if "artifactIterator" in task:
            ipath = f"{path}.artifactIterator"
            it = self.mapping(task["artifactIterator"], ipath)
            items = self.mapping(it.get("items"), f"{ipath}.items")
            name = self.string(items.get("inputArtifact"), f"{ipath}.items.inputArtifact")
            return Iterator(
                "artifact",
                self.string(it.get("itemInput"), f"{ipath}.itemInput"),
                input_name=name,
                parallelism=limit,
            )
        return None

    def retry(self, node: Any, path: str) -> RetryPolicy | None:
        if not node:
            return None
        node = self.mapping(node, path)
        policy = RetryPolicy(
            max_retries=_integer(node.get("maxRetryCount", 0)),
            backoff_seconds=_duration(node.get("backoffDuration", "0s")),
            backoff_factor=float(node.get("backoffFactor", 2.0)),
            backoff_max_seconds=_duration(node.get("backoffMaxDuration", "3600s")),
        )
        checks = (
            ("maxRetryCount", policy.max_retries >= 0, "a retry count cannot be negative"),
            ("backoffDuration", policy.backoff_seconds >= 0, "a backoff cannot be negative"),
            ("backoffMaxDuration", policy.backoff_max_seconds >= 0, "a backoff cannot be negative"),
            (
                "backoffFactor",
                math.isfinite(policy.backoff_factor) and policy.backoff_factor >= 0,
                "a backoff factor is a finite number, 0 or more",
            ),
        )
        for field, holds, problem in checks:
            if not holds:
                raise self.error(problem, f"{path}.{field}")
        return policy

    def task(self, name: str, node: Any, path: str) -> Task:
        node = self.mapping(node, path)
        if not is_safe_name(name):
            raise self.error(f"task name {name!r} is not a safe path segment", path)
        ref = self.mapping(node.get("componentRef"), f"{path}.componentRef")
        inputs = self.mapping(node.get("inputs"), f"{path}.inputs")
        trigger = self.mapping(node.get("triggerPolicy"), f"{path}.triggerPolicy")
        caching = self.mapping(node.get("cachingOptions"), f"{path}.cachingOptions")
        info = self.mapping(node.get("taskInfo"), f"{path}.taskInfo")
        return Task(
            name=name,
            component=self.string(ref.get("name"), f"{path}.componentRef.name"),
            where=f"{self.source}: {path}",
            display_name=str(info.get("name", name)),
            dependent_tasks=self.strings(node.get("dependentTasks"), f"{path}.dependentTasks"),
            parameters={
                k: self.parameter_binding(v, f"{path}.inputs.parameters.{k}")
                for k, v in self.mapping(inputs.get("parameters"), f"{path}.inputs.parameters").items()
            },
            artifacts={
                k: self.artifact_binding(v, f"{path}.inputs.artifacts.{k}")
                for k, v in self.mapping(inputs.get("artifacts"), f"{path}.inputs.artifacts").items()
            },
            condition=trigger.get("condition") or None,
            trigger_strategy=trigger.get("strategy") or None,
            iterator=self.iterator(node, path),
            retry=self.retry(node.get("retryPolicy"), f"{path}.retryPolicy"),
            enable_cache=bool(caching.get("enableCache", False)),
            cache_key=caching.get("cacheKey") or None,
        )

    def selectors(self, node: Any, path: str, key_field: str) -> tuple[OutputSelector, ...]:
        node = self.mapping(node, path)
        if "valueFromParameter" in node:
            node = {"valueFromOneof": {"parameterSelectors": [node["valueFromParameter"]]}}
        if "valueFromOneof" in node:
            node = {"artifactSelectors": self.mapping(node["valueFromOneof"], path).get("parameterSelectors")}
        raw = node.get("artifactSelectors")
        if not isinstance(raw, list) or not raw:
            raise self.error("output has no selector", path)
        return tuple(
            OutputSelector(
                producer=self.string(s.get("producerSubtask"), f"{path}[{i}].producerSubtask"),
                key=self.string(s.get(key_field), f"{path}[{i}].{key_field}"),
            )
            for i, s in enumerate(raw)
        )

    def dag(self, node: Any, path: str) -> Dag:
        node = self.mapping(node, path)
        tasks = {
            name: self.task(name, t, f"{path}.tasks.{name}")
            for name, t in self.mapping(node.get("tasks"), f"{path}.tasks").items()
        }
        outputs = self.mapping(node.get("outputs"), f"{path}.outputs")
        return Dag(
            tasks=tasks,
            parameter_outputs={
                k: self.selectors(v, f"{path}.outputs.parameters.{k}", "outputParameterKey")
                for k, v in self.mapping(outputs.get("parameters"), f"{path}.outputs.parameters").items()
            },
            artifact_outputs={
                k: self.selectors(v, f"{path}.outputs.artifacts.{k}", "outputArtifactKey")
                for k, v in self.mapping(outputs.get("artifacts"), f"{path}.outputs.artifacts").items()
            },
        )

    # -- executors --------------------------------------------------------------------------------

    def resources(self, node: Any, path: str) -> tuple[Resources, dict[str, tuple[str, str]]]:
        """The literal resources, and the fields that name an input parameter (resolved per task)."""
        node = self.mapping(node, path)
        accel = self.mapping(node.get("accelerator"), f"{path}.accelerator")
        from_inputs: dict[str, tuple[str, str]] = {}

        def placeholder(field: str, source: Mapping[str, Any], key: str) -> bool:
            name = input_placeholder(source.get(key))
            if name is not None:
                from_inputs[field] = (key, name)
            return name is not None

        def cpu(field: str, new: str, old: str) -> float | None:
            if placeholder(field, node, new):
                return None
            value = node.get(new, node.get(old))
            return None if value in (None, "") else parse_cpu(value, f"{self.source}: {path}.{new}")

        def mem(field: str, new: str, old: str) -> int | None:
            if placeholder(field, node, new):
                return None
            if node.get(new) not in (None, ""):
                return parse_memory(node[new], f"{self.source}: {path}.{new}")
            if node.get(old) not in (None, ""):
                return parse_memory(node[old], f"{self.source}: {path}.{old}", number_unit=_GB)
            return None

        accel_type = (
            None if placeholder("accelerator_type", accel, "resourceType") else accel.get("resourceType")
        )
        if placeholder("accelerator_count", accel, "resourceCount"):
            accel_count = 0
        else:
            count = accel.get("resourceCount", accel.get("count", 0)) or 0
            accel_count = parse_count(count, f"{self.source}: {path}.accelerator.resourceCount")
        return Resources(
            cpu_limit=cpu("cpu_limit", "resourceCpuLimit", "cpuLimit"),
            memory_limit=mem("memory_limit", "resourceMemoryLimit", "memoryLimit"),
            cpu_request=cpu("cpu_request", "resourceCpuRequest", "cpuRequest"),
            memory_request=mem("memory_request", "resourceMemoryRequest", "memoryRequest"),
            accelerator_type=accel_type or accel.get("type") or None,
            accelerator_count=accel_count,
        ), from_inputs

    def executor(self, node: Any, path: str) -> Container | Importer:
        node = self.mapping(node, path)
        if "container" in node:
            cpath = f"{path}.container"
            c = self.mapping(node["container"], cpath)
            env: dict[str, str] = {}
            for i, e in enumerate(c.get("env") or []):
                e = self.mapping(e, f"{cpath}.env[{i}]")
                env[self.string(e.get("name"), f"{cpath}.env[{i}].name")] = str(e.get("value", ""))
            resources, resource_inputs = self.resources(c.get("resources"), f"{cpath}.resources")
            return Container(
                image=self.string(c.get("image"), f"{cpath}.image"),
                command=self.strings(c.get("command"), f"{cpath}.command"),
                args=self.strings(c.get("args"), f"{cpath}.args"),
                env=env,
                resources=resources,
                resource_inputs=resource_inputs,
            )
        if "importer" in node:
            ipath = f"{path}.importer"
            imp = self.mapping(node["importer"], ipath)
            atype = self.mapping(imp.get("typeSchema"), f"{ipath}.typeSchema")
            uri = self.mapping(imp.get("artifactUri"), f"{ipath}.artifactUri")
            if "constant" not in uri and "runtimeParameter" not in uri:
                raise self.error("importer has no constant or runtimeParameter URI", f"{ipath}.artifactUri")
            return Importer(
                uri=str(uri["constant"]) if "constant" in uri else None,
                uri_input=str(uri["runtimeParameter"]) if "runtimeParameter" in uri else None,
                schema_title=str(atype.get("schemaTitle", "system.Artifact")),
                metadata=dict(self.mapping(imp.get("metadata"), f"{ipath}.metadata")),
                reimport=bool(imp.get("reimport", False)),
                download_to_workspace=bool(imp.get("downloadToWorkspace", False)),
            )
        raise self.error(
            "executor is neither a container nor an importer (custom jobs are not supported)", path
        )

    # -- whole document ---------------------------------------------------------------------------

    def pipeline(self, doc: Any, platform: Mapping[str, Any], text: str) -> PipelineSpec:
        doc = self.mapping(doc, "")
        version = doc.get("schemaVersion")
        if not isinstance(version, str) or not _SCHEMA_VERSION.fullmatch(version):
            raise self.error(
                f"schemaVersion {version!r} is not one flow reads (2.0.x or 2.1.x)", "schemaVersion"
            )
        executors = {
            label: self.executor(node, f"deploymentSpec.executors.{label}")
            for label, node in self.mapping(
                self.mapping(doc.get("deploymentSpec"), "deploymentSpec").get("executors"),
                "deploymentSpec.executors",
            ).items()
        }
        components: dict[str, Component] = {}
        for name, node in self.mapping(doc.get("components"), "components").items():
            components[name] = self.component(name, node, f"components.{name}", executors)
        if doc.get("root") is None:
            raise self.error("the pipeline has no root component", "root")
        root = self.component("root", doc["root"], "root", executors)
        if root.dag is None:
            raise self.error("the root component has no dag", "root")
        info = self.mapping(doc.get("pipelineInfo"), "pipelineInfo")
        spec = PipelineSpec(
            name=str(info.get("name") or "pipeline"),
            source=self.source,
            root=root,
            components=components,
            platform=dict(platform),
            text=text,
            workspace=workspace_config(platform, self.source),
        )
        _validate(spec, self)
        check_placeholder_use(spec, spec.workspace)
        return dataclasses.replace(spec, digests=component_digests(doc, self.source))

    def component(
        self, name: str, node: Any, path: str, executors: Mapping[str, Container | Importer]
    ) -> Component:
        node = self.mapping(node, path)
        executor = None
        if "executorLabel" in node:
            label = self.string(node["executorLabel"], f"{path}.executorLabel")
            if label not in executors:
                raise self.error(
                    f"executor {label!r} is not in deploymentSpec.executors", f"{path}.executorLabel"
                )
            executor = executors[label]
        dag = self.dag(node["dag"], f"{path}.dag") if "dag" in node else None
        if executor is None and dag is None:
            raise self.error("component has neither an executorLabel nor a dag", path)
        inputs = self.interface(node.get("inputDefinitions"), f"{path}.inputDefinitions")
        if isinstance(executor, Importer) and executor.uri_input not in (None, *inputs.parameters):
            where = f"deploymentSpec.executors.{node['executorLabel']}.importer.artifactUri.runtimeParameter"
            raise self.error(f"component {name!r} has no input parameter {executor.uri_input!r}", where)
        return Component(
            name=name,
            where=f"{self.source}: {path}",
            inputs=inputs,
            outputs=self._outputs(node.get("outputDefinitions"), f"{path}.outputDefinitions"),
            dag=dag,
            executor=executor,
            executor_label=str(node.get("executorLabel", "")),
        )

    def _outputs(self, node: Any, path: str) -> Interface:
        outputs = self.interface(node, path)
        for name in [*outputs.parameters, *outputs.artifacts]:
            if not is_safe_name(name):
                raise self.error(f"output name {name!r} is not a safe path segment", path)
        return outputs


def _duration(value: Any) -> float:
    """Seconds from a protobuf Duration as the schema admits it in YAML ("3s", "0.5s")."""
    return float(str(value)[:-1])


def _integer(value: Any) -> int:
    """An integer field's value as the schema admits it: an int, an integral float, or either as text."""
    try:
        return int(value)
    except ValueError:
        return int(float(value))


def _validate(spec: PipelineSpec, loader: _Loader) -> None:
    """Every reference resolves and no DAG has a cycle."""
    dags = [
        (c, "root.dag" if c is spec.root else f"components.{c.name}.dag")
        for c in [spec.root, *spec.components.values()]
        if c.dag is not None
    ]
    for component, dag_path in dags:  # first every componentRef, so the checks below can follow them
        assert component.dag is not None
        for task in component.dag.tasks.values():
            if task.component not in spec.components:
                where = f"{dag_path}.tasks.{task.name}.componentRef.name"
                raise loader.error(f"unknown component {task.component!r}", where)
    for component, dag_path in dags:
        assert component.dag is not None
        for task in component.dag.tasks.values():
            _validate_task(spec, component, task, f"{dag_path}.tasks.{task.name}", loader)
        _validate_acyclic(component.dag, dag_path, loader)
        _validate_dag_outputs(spec, component.dag, dag_path, loader)


def _validate_task(spec: PipelineSpec, component: Component, task: Task, path: str, loader: _Loader) -> None:
    assert component.dag is not None
    siblings = component.dag.tasks
    for dep in task.upstream:
        if dep not in siblings:
            raise loader.error(f"depends on unknown task {dep!r}", path)
    if task.iterator is not None:
        _validate_iterator(spec, task, task.iterator, path, loader)
    bindings: list[tuple[str, str, ParameterBinding | ArtifactBinding]] = [
        *(("parameter", key, b) for key, b in task.parameters.items()),
        *(("artifact", key, b) for key, b in task.artifacts.items()),
    ]
    for kind, key, binding in bindings:
        where = f"{path}.inputs.{kind}s.{key}"
        if binding.kind == "component_input":
            declared = component.inputs.parameters if kind == "parameter" else component.inputs.artifacts
            if binding.key not in declared:
                raise loader.error(f"component {component.name!r} has no input {kind} {binding.key!r}", where)
        elif binding.kind == "task_output":
            produced = spec.components[siblings[str(binding.producer)].component].outputs
            outputs = produced.parameters if kind == "parameter" else produced.artifacts
            if binding.key not in outputs:
                raise loader.error(f"task {binding.producer!r} has no output {kind} {binding.key!r}", where)


def _validate_iterator(
    spec: PipelineSpec, task: Task, iterator: Iterator, path: str, loader: _Loader
) -> None:
    """The items come from one of the loop task's inputs, and each item goes to an input of its body."""
    kind = "parameter" if iterator.kind == "parameter" else "artifact"
    ipath = f"{path}.{kind}Iterator"
    inputs = task.parameters if kind == "parameter" else task.artifacts
    if iterator.input_name is not None and iterator.input_name not in inputs:
        field = "inputParameter" if kind == "parameter" else "inputArtifact"
        raise loader.error(
            f"the loop task has no input {kind} {iterator.input_name!r}", f"{ipath}.items.{field}"
        )
    body = spec.components[task.component].inputs
    if iterator.item_input not in (body.parameters if kind == "parameter" else body.artifacts):
        raise loader.error(
            f"component {task.component!r} has no input {kind} {iterator.item_input!r}", f"{ipath}.itemInput"
        )


def _validate_acyclic(dag: Dag, dag_path: str, loader: _Loader) -> None:
    graph = {task.name: task.upstream for task in dag.tasks.values()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])  # each task before the next, the first again at the end
        raise loader.error(f"the tasks form a cycle: {cycle}", f"{dag_path}.tasks") from None


def _validate_dag_outputs(spec: PipelineSpec, dag: Dag, dag_path: str, loader: _Loader) -> None:
    for outputs, kind in ((dag.parameter_outputs, "parameters"), (dag.artifact_outputs, "artifacts")):
        for name, selectors in outputs.items():
            where = f"{dag_path}.outputs.{kind}.{name}"
            for sel in selectors:
                if sel.producer not in dag.tasks:
                    raise loader.error(f"output selects unknown task {sel.producer!r}", where)
                produced = spec.components[dag.tasks[sel.producer].component].outputs
                keys = produced.parameters if kind == "parameters" else produced.artifacts
                if sel.key not in keys:
                    raise loader.error(f"task {sel.producer!r} has no output {sel.key!r}", where)


def load_text(text: str, source: str = "<string>") -> PipelineSpec:
    """Parse IR YAML text (one PipelineSpec document, optionally followed by a platform spec document),
    checked against KFP's schema, then against flow's rules."""
    loader = _Loader(source)
    documents = [d for d in parse_documents(text, source) if d is not None]
    if not documents:
        raise SpecError("empty file, expected a pipeline", source)
    if len(documents) > 2:
        raise SpecError("more than two YAML documents (a pipeline, then its platform spec)", source)
    doc = loader.mapping(documents[0], "")
    if "root" not in doc:
        raise loader.error(
            "not a pipeline: no 'root' with a 'deploymentSpec' (is this a KFP v2 IR file?)", ""
        )
    platform: Mapping[str, Any] = documents[1] if len(documents) > 1 else {}
    try:
        check_pipeline(doc)
    except SchemaError as exc:
        raise loader.error(str(exc), exc.path) from None
    try:
        check_platform(platform)
    except SchemaError as exc:
        where = f"platform spec: {exc.path}" if exc.path else "platform spec"
        raise loader.error(str(exc), where) from None
    return loader.pipeline(doc, platform, text)


def load_file(path: str | Path) -> PipelineSpec:
    """Load a pipeline file, reporting a missing or unreadable file as a SpecError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {exc}", str(path)) from None
    return load_text(text, str(path))
