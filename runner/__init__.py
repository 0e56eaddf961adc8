"""flow: run Kubeflow Pipelines v2 pipelines as containers, locally or on Kubernetes."""

from runner.api import RunResult, TaskResult, result, run
from runner.errors import FlowError

__all__ = ["FlowError", "RunResult", "TaskResult", "result", "run"]
