"""The in-container executor of flow's Python components (standard library only); see executor.py."""

from runner.executor.artifacts import (
    ARTIFACT_TYPES,
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
    PipelineTaskFinalStatus,
)
from runner.executor.executor import describe, execute, main, parameter_type, run_module

__all__ = [
    "ARTIFACT_TYPES",
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputPath",
    "PipelineTaskFinalStatus",
    "describe",
    "execute",
    "main",
    "parameter_type",
    "run_module",
]
