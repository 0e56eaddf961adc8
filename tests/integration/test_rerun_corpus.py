"""Each container task of a KFP corpus run, re-run alone with `runner.rerun`, gives the outputs it gave:
kfp's own IR (pipeline channels, loops, conditions, OneOf, exit handlers, secrets named by parameters, lists
of artifacts) needs nothing of the pipeline around the task but what the store recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

import runner
from runner.store import TaskState
from tests.integration.test_corpus import CORPUS, EXPECTED

# The corpus' pipelines whose tasks get their inputs in the most different ways (all 28 passed too, taking
# four times as long).
PIPELINES = [
    "critical__component_with_optional_inputs.yaml",
    "critical__pythonic_artifacts_test_pipeline.yaml",
    "if_elif_else_with_oneof_parameters.yaml",
    "parallel_and_nested__nested_parallel_for_secret.yaml",
    "pipeline_with_parallelfor_pipeline_param.yaml",
    "pipeline_with_task_final_status_yaml.yaml",
    "pythonic_artifacts_with_list_of_artifacts.yaml",
]


def varying_tasks(name: str) -> set[str]:
    """Tasks whose outputs the corpus says differ from run to run (a die roll, a random accuracy)."""
    fields = EXPECTED[name].get("nondeterministic_fields") or []
    return {f.split("/")[1].split("[")[0] for f in fields if f.startswith("task_outputs/")}


@pytest.mark.parametrize("name", PIPELINES)
def test_each_task_reruns_to_the_same_outputs(name: str, tmp_path: Path) -> None:
    params = EXPECTED[name].get("params") or {}
    original = runner.run(CORPUS / "pipelines" / name, backend="process", params=params, root=tmp_path)
    varying = varying_tasks(name)
    ran = [
        task
        for task in original.tasks.values()
        if task.kind == "container" and task.state == TaskState.SUCCEEDED and task.name not in varying
    ]

    for task in ran:
        again = runner.rerun(original.run_id, task.path)
        assert again.succeeded, f"{task.path}: {again.error}"
        assert again.tasks[task.name].outputs == task.outputs, task.path
