"""flow: run Kubeflow Pipelines v2 pipelines as containers, locally or on Kubernetes.

The SDK (runner.dsl) is re-exported here: `from runner import component, pipeline, Input, Output, Dataset`.
The names load on first use, so that `flow` and `import runner.<module>` do not pay for the whole SDK and
engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.api import (
        RunResult,
        TaskResult,
        result,
        run,
    )
    from runner.dsl import (
        HTML,
        Artifact,
        ClassificationMetrics,
        Collected,
        ConcatPlaceholder,
        ContainerSpec,
        Dataset,
        DefinitionError,
        Elif,
        Else,
        ExitHandler,
        If,
        IfPresentPlaceholder,
        Input,
        InputPath,
        Markdown,
        Metrics,
        Model,
        OneOf,
        Output,
        OutputPath,
        ParallelFor,
        PipelineTaskFinalStatus,
        compile,
        compile_to_file,
        compile_to_text,
        component,
        container_component,
        importer,
        kubernetes,
        load_component,
        load_component_from_text,
        pipeline,
    )
    from runner.errors import (
        FlowError,
    )
    from runner.reruns import (
        rerun,
    )

_HOMES = {
    "runner.api": ("RunResult", "TaskResult", "result", "run"),
    "runner.errors": ("FlowError",),
    "runner.reruns": ("rerun",),
}
# The module each public name comes from: the SDK's unless said above.
_HOME_OF = {name: home for home, names in _HOMES.items() for name in names}

__all__ = [
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Collected",
    "ConcatPlaceholder",
    "ContainerSpec",
    "Dataset",
    "DefinitionError",
    "Elif",
    "Else",
    "ExitHandler",
    "FlowError",
    "If",
    "IfPresentPlaceholder",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "OutputPath",
    "ParallelFor",
    "PipelineTaskFinalStatus",
    "RunResult",
    "TaskResult",
    "compile",
    "compile_to_file",
    "compile_to_text",
    "component",
    "container_component",
    "importer",
    "kubernetes",
    "load_component",
    "load_component_from_text",
    "pipeline",
    "rerun",
    "result",
    "run",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME_OF.get(name, "runner.dsl")), name)
    globals()[name] = value
    return value
