"""Small pipelines of shell steps, written as the KFP v2 IR the kfp SDK would compile: the material of the
conformance suite and of tests that need a pipeline with particular behaviour (slow, failing, chatty).

Steps name public images; a machine without a registry maps them to local ones (`--image-map`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

BUSYBOX = "busybox:latest"
PYTHON = "python:3.11"

# Waits until the file `release` exists in the pipeline root: lets a test hold a task running.
WAIT_FOR_RELEASE = 'while [ ! -f "{{$.pipeline_root}}/release" ]; do sleep 0.1; done; echo released'


@dataclass
class Step:
    script: str
    after: tuple[str, ...] = ()
    image: str = BUSYBOX
    command: tuple[str, ...] = ("sh", "-c")
    resources: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # parameter name -> pipeline input it takes
    retries: int = 0


def pipeline(
    steps: dict[str, Step], *, name: str = "shell-steps", params: dict[str, str] | None = None
) -> str:
    """IR YAML with one container component per step, `params` as STRING pipeline inputs."""
    components, executors, tasks = {}, {}, {}
    for task_name, step in steps.items():
        container: dict[str, Any] = {"image": step.image, "command": [*step.command, step.script]}
        if step.resources:
            container["resources"] = step.resources
        executors[f"exec-{task_name}"] = {"container": container}
        component: dict[str, Any] = {"executorLabel": f"exec-{task_name}"}
        task: dict[str, Any] = {
            "componentRef": {"name": f"comp-{task_name}"},
            "taskInfo": {"name": task_name},
            "cachingOptions": {"enableCache": True},
        }
        if step.inputs:
            component["inputDefinitions"] = {
                "parameters": {p: {"parameterType": "STRING"} for p in step.inputs}
            }
            task["inputs"] = {
                "parameters": {p: {"componentInputParameter": src} for p, src in step.inputs.items()}
            }
        if step.after:
            task["dependentTasks"] = list(step.after)
        if step.retries:
            task["retryPolicy"] = {"maxRetryCount": step.retries, "backoffDuration": "0s", "backoffFactor": 2}
        components[f"comp-{task_name}"] = component
        tasks[task_name] = task
    root: dict[str, Any] = {"dag": {"tasks": tasks}}
    if params:
        root["inputDefinitions"] = {
            "parameters": {p: {"parameterType": "STRING", "defaultValue": d} for p, d in params.items()}
        }
    return yaml.safe_dump(
        {
            "pipelineInfo": {"name": name},
            "components": components,
            "deploymentSpec": {"executors": executors},
            "root": root,
            "schemaVersion": "2.1.0",
            "sdkVersion": "flow-tests",
        }
    )
