"""One attempt of a container task as a backend receives it: ExecutorInput, argv, name, labels, limits."""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import TaskSpec
from backends.workspaces import Workspace
from runner import layout
from runner.engine import platform, resources, workspace
from runner.engine.external import NOTHING_REACHED, Reached
from runner.engine.graph import ArtifactRef, Node
from runner.engine.placeholders import Context, Template, fill, has_placeholders, render, template
from runner.errors import FlowError
from runner.spec.model import Component, Container, PipelineSpec

LOG_TAIL_LINES = 10
# The images kfp-kubernetes gives its claim steps: stubs that Kubeflow's driver acts on itself
# (backend/src/v2/driver/k8s.go) instead of running them.
_DRIVER_STUBS = {"argostub/createpvc": "CreatePVC", "argostub/deletepvc": "DeletePVC"}
_NOT_NAME = re.compile(r"[^a-z0-9]+")

# Python components write their output as they go, so `flow logs -f` follows them live and a traceback
# lands after the lines printed before it (a pipe would otherwise hold stdout back until exit).
_TASK_ENV = {"PYTHONUNBUFFERED": "1"}
# The pipeline-level placeholders whose values differ from task to task (RunContext.task_values).
_TASK_VALUE_NAMES = ("pipeline_task_name", "pipeline_task_uuid")


@dataclass(frozen=True)
class Executor:
    """What every attempt of one component's container shares, worked out once per run."""

    container: Container
    # Whether the command, and the args, must be rendered per attempt (else they are the argv as they are),
    # and their Template where all their placeholders are pipeline-level values (else `render` does it).
    command_placeholders: bool
    args_placeholders: bool
    command_template: Template | None
    args_template: Template | None
    env: Mapping[str, str]  # the container's, over flow's defaults; shared by the attempts, never modified
    kubernetes: Mapping[str, Any]  # the executor's kfp-kubernetes settings
    timeout: float | None
    output_parameters: tuple[str, ...]
    output_artifacts: tuple[tuple[str, str, str], ...]  # (name, schema title, schema version)


@dataclass(frozen=True)
class RunContext:
    """What every attempt of a run shares."""

    spec: PipelineSpec
    run_id: str
    task_root: str  # the root as tasks see it (/flow, or the host path for the process backend)
    task_uri: str  # the root's URI in the ExecutorInput: task_root, or s3://bucket/prefix seen at /s3/...
    staged: bool  # tasks get copies of the root's files (TaskView.copies): TaskSpec.root_inputs says which
    logs_dir: str
    pipeline_values: dict[str, str]
    task_timeout: float | None
    workspace: Workspace | None = None
    _executors: dict[str, Executor] = field(default_factory=dict, init=False, repr=False, compare=False)

    @functools.cached_property
    def task_base(self) -> str:
        return self.task_root.rstrip("/")

    @functools.cached_property
    def uri_base(self) -> str:
        return self.task_uri.rstrip("/")

    @functools.cached_property
    def workspace_path(self) -> str:
        """Where tasks see the workspace ("" without one)."""
        return self.pipeline_values.get(workspace.VALUE_NAME, "")

    def task_values(self, node: Node) -> dict[str, str]:
        """The pipeline placeholders plus the task's own, as `{{$.pipeline_task_name}}` needs."""
        name, uuid = _TASK_VALUE_NAMES
        return {**self.pipeline_values, name: node.task.name, uuid: f"{self.run_id}.{node.path}"}

    def executor(self, component: Component) -> Executor:
        """The component's Executor (component names are unique in a spec)."""
        found = self._executors.get(component.name)
        if found is None:
            found = self._executors[component.name] = _executor(component, self)
        return found


def _executor(component: Component, run: RunContext) -> Executor:
    container = component.executor
    assert isinstance(container, Container)
    kubernetes = run.spec.kubernetes_executor(component.executor_label)
    # kfp-kubernetes' activeDeadlineSeconds, else --task-timeout.
    seconds = kubernetes.get("activeDeadlineSeconds")
    value_names = {*run.pipeline_values, *_TASK_VALUE_NAMES}
    return Executor(
        container=container,
        command_placeholders=has_placeholders(container.command),
        args_placeholders=has_placeholders(container.args),
        command_template=template(container.command, value_names),
        args_template=template(container.args, value_names),
        env={**_TASK_ENV, **container.env},
        kubernetes=kubernetes,
        timeout=float(seconds) if seconds else run.task_timeout,
        output_parameters=tuple(component.outputs.parameters),
        output_artifacts=tuple(
            (name, a.schema_title, a.schema_version) for name, a in component.outputs.artifacts.items()
        ),
    )


def pipeline_values(spec: PipelineSpec, run_id: str, created_at: float, task_root: str) -> dict[str, str]:
    """The values of KFP's pipeline-level placeholders for a run."""
    job_name = f"{spec.name}-{run_id}"
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created_at or time.time()))
    return {
        "pipeline_job_name": job_name,
        "pipeline_job_resource_name": job_name,
        "pipeline_job_uuid": run_id,
        "pipeline_job_create_time_utc": created,
        "pipeline_job_schedule_time_utc": created,
        "pipeline_root": task_root,
    }


def build(node: Node, attempt: int, run: RunContext, reached: Reached = NOTHING_REACHED) -> TaskSpec:
    """The TaskSpec of the node's attempt number `attempt`. Raises FlowError for a bad placeholder, or a
    kfp-kubernetes step that only Kubeflow's driver does.
    `reached`: its input artifacts outside the root, by URI, as the task reads them (ExternalArtifacts)."""
    executor = run.executor(node.component)
    stub = _DRIVER_STUBS.get(executor.container.image)
    if stub is not None:
        raise FlowError(
            f"kfp-kubernetes {stub} is done by Kubeflow's own driver, not by a container, and flow does "
            "not do it: mount an existing claim with mount_pvc",
            node.task.where,
        )
    inputs = _as_read(node.artifacts, reached.refs) if reached.refs else node.artifacts
    executor_input = _executor_input(node, inputs, executor, run)
    container = executor.container
    command: Sequence[str] = container.command
    args: Sequence[str] = container.args
    if executor.command_placeholders or executor.args_placeholders:
        context = Context(executor_input, run.task_values(node), node.task.where)
        if executor.command_placeholders:
            command = _argv(command, executor.command_template, context)
        if executor.args_placeholders:
            args = _argv(args, executor.args_template, context)
    path = node.path
    return TaskSpec(
        run_id=run.run_id,
        task_path=path,
        attempt=attempt,
        name=container_name(run.run_id, path, attempt),
        image=container.image,
        command=command,
        args=args,
        env=executor.env,
        resources=resources.resolved(container, node.params, node.task.where),
        mounts=reached.mounts,
        labels={"flow.run": run.run_id, "flow.task": path, "flow.attempt": str(attempt)},
        executor_input=executor_input,
        timeout=executor.timeout,
        # os.path-style joins on strings: this runs once per task, where pathlib costs show.
        log_path=f"{run.logs_dir}/{run.run_id}/{path}/attempt-{attempt}.log",
        kubernetes=platform.resolved(executor.kubernetes, node),
        root_inputs=_in_root(inputs) if run.staged else (),
        root_outputs=layout.task_dir(run.run_id, path),
        workspace=run.workspace if run.workspace and workspace.uses(node, run.workspace_path) else None,
    )


def _argv(arguments: Sequence[str], prepared: Template | None, context: Context) -> list[str]:
    return fill(prepared, context.pipeline_values) if prepared is not None else render(arguments, context)


def _as_read(
    refs: Mapping[str, list[ArtifactRef]], reached: Mapping[str, ArtifactRef]
) -> dict[str, list[ArtifactRef]]:
    return {name: [reached.get(ref.uri, ref) for ref in group] for name, group in refs.items()}


def _in_root(inputs: Mapping[str, list[ArtifactRef]]) -> tuple[str, ...]:
    """The input artifacts under the root, each once."""
    in_root = (ref.uri for refs in inputs.values() for ref in refs if not layout.is_external(ref.uri))
    return tuple(dict.fromkeys(in_root))


def _executor_input(
    node: Node, inputs: Mapping[str, list[ArtifactRef]], executor: Executor, run: RunContext
) -> dict[str, Any]:
    """The KFP ExecutorInput: input values and artifacts, and where each output goes. Files are named as
    tasks see them; artifact URIs are the root's URI for tasks (an object store's own, or the path)."""
    relative_dir = layout.task_dir(run.run_id, node.path)
    task_dir, uri_dir = f"{run.task_base}/{relative_dir}", f"{run.uri_base}/{relative_dir}"
    return {
        "inputs": {
            "parameterValues": node.params,
            "artifacts": {
                name: {"artifacts": [_artifact_struct(ref, run.uri_base) for ref in refs]}
                for name, refs in inputs.items()
            },
        },
        "outputs": {
            "parameters": {name: {"outputFile": f"{task_dir}/{name}"} for name in executor.output_parameters},
            "artifacts": {
                name: {
                    "artifacts": [
                        {
                            "name": name,
                            "type": {"schemaTitle": title, "schemaVersion": version},
                            "uri": f"{uri_dir}/{name}",
                            "metadata": {},
                        }
                    ]
                }
                for name, title, version in executor.output_artifacts
            },
            "outputFile": f"{task_dir}/{layout.EXECUTOR_OUTPUT}",
        },
    }


def _artifact_struct(ref: ArtifactRef, base: str) -> dict[str, Any]:
    """An input artifact for the task: its URI under the root's, or the path of a file read in place, or
    the URI imported into the workspace."""
    return {
        "name": ref.name,
        "type": {"schemaTitle": ref.type, "schemaVersion": ref.schema_version},
        "uri": layout.full_uri(base, ref.uri),
        "metadata": ref.metadata,
    }


def container_name(run_id: str, task_path: str, attempt: int) -> str:
    """Deterministic and valid as a Docker name and a Kubernetes pod name (lowercase, dashes, <= 63)."""
    slug = _NOT_NAME.sub("-", task_path.lower()).strip("-")
    name = f"flow-{run_id}-{slug}"
    suffix = f"-{attempt}"
    if len(name) + len(suffix) > 63:
        digest = hashlib.sha256(task_path.encode()).hexdigest()[:8]
        name = f"{name[: 63 - len(suffix) - 9]}-{digest}"
    return name + suffix


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
