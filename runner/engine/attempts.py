"""One attempt of a container task as a backend receives it: ExecutorInput, argv, name, labels, limits."""

from __future__ import annotations

import functools
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from backends.base import Mount, TaskSpec
from runner import artifacts
from runner.engine import platform
from runner.engine.graph import ArtifactRef, Node
from runner.engine.placeholders import Context, render
from runner.spec.model import Container, PipelineSpec

LOG_TAIL_LINES = 10
_NOT_NAME = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class RunContext:
    """What every attempt of a run shares."""

    spec: PipelineSpec
    run_id: str
    root: str  # the root on the engine's machine
    task_root: str  # the root as tasks see it (/flow, or the host path for the process backend)
    logs_dir: str
    pipeline_values: dict[str, str]
    task_timeout: float | None

    @functools.cached_property
    def mounts(self) -> tuple[Mount, ...]:
        return (Mount(self.root, artifacts.TASK_ROOT),)

    def task_values(self, node: Node) -> dict[str, str]:
        """The pipeline placeholders plus the task's own, as `{{$.pipeline_task_name}}` needs."""
        return {
            **self.pipeline_values,
            "pipeline_task_name": node.task.name,
            "pipeline_task_uuid": f"{self.run_id}.{node.path}",
        }


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


# Python components write their output as they go, so `flow logs -f` follows them live and a traceback
# lands after the lines printed before it (a pipe would otherwise hold stdout back until exit).
_TASK_ENV = {"PYTHONUNBUFFERED": "1"}


def build(node: Node, attempt: int, run: RunContext) -> TaskSpec:
    """The TaskSpec of the node's attempt number `attempt`. Raises FlowError for a bad placeholder."""
    container = node.component.executor
    assert isinstance(container, Container)
    executor_input = _executor_input(node, run)
    context = Context(executor_input, run.task_values(node), node.task.where)
    return TaskSpec(
        run_id=run.run_id,
        task_path=node.path,
        attempt=attempt,
        name=container_name(run.run_id, node.path, attempt),
        image=container.image,
        command=render(container.command, context),
        args=render(container.args, context),
        env={**_TASK_ENV, **container.env},
        resources=container.resources,
        mounts=run.mounts,
        labels={"flow.run": run.run_id, "flow.task": node.path, "flow.attempt": str(attempt)},
        executor_input=executor_input,
        timeout=_timeout(node, run),
        # os.path-style joins on strings: this runs once per task, where pathlib costs show.
        log_path=f"{run.logs_dir}/{run.run_id}/{node.path}/attempt-{attempt}.log",
        kubernetes=platform.resolved(run.spec.kubernetes_executor(node.component.executor_label), node),
    )


def _timeout(node: Node, run: RunContext) -> float | None:
    """Seconds the task may run: kfp-kubernetes' activeDeadlineSeconds, else --task-timeout."""
    seconds = run.spec.kubernetes_executor(node.component.executor_label).get("activeDeadlineSeconds")
    return float(seconds) if seconds else run.task_timeout


def _executor_input(node: Node, run: RunContext) -> dict[str, Any]:
    """The KFP ExecutorInput: input values and artifacts, and where each output goes, as tasks see paths."""
    base = run.task_root.rstrip("/")
    task_dir = f"{base}/{artifacts.task_dir(run.run_id, node.path)}"
    outputs = node.component.outputs
    return {
        "inputs": {
            "parameterValues": node.params,
            "artifacts": {
                name: {"artifacts": [_artifact_struct(ref, base) for ref in refs]}
                for name, refs in node.artifacts.items()
            },
        },
        "outputs": {
            "parameters": {name: {"outputFile": f"{task_dir}/{name}"} for name in outputs.parameters},
            "artifacts": {
                name: {
                    "artifacts": [
                        {
                            "name": name,
                            "type": {"schemaTitle": a.schema_title, "schemaVersion": a.schema_version},
                            "uri": f"{task_dir}/{name}",
                            "metadata": {},
                        }
                    ]
                }
                for name, a in outputs.artifacts.items()
            },
            "outputFile": f"{task_dir}/{artifacts.EXECUTOR_OUTPUT}",
        },
    }


def _artifact_struct(ref: ArtifactRef, base: str) -> dict[str, Any]:
    return {
        "name": ref.name,
        "type": {"schemaTitle": ref.type, "schemaVersion": ref.schema_version},
        "uri": f"{base}/{ref.uri}",
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
