"""flow's Python SDK: components and pipelines written in Python, compiled to KFP v2 IR."""

from runner.dsl import kubernetes
from runner.dsl.building import Collected, OneOf
from runner.dsl.components import BaseComponent, PythonComponent, component
from runner.dsl.container import (
    ConcatPlaceholder,
    ContainerComponent,
    ContainerSpec,
    IfPresentPlaceholder,
    container_component,
)
from runner.dsl.errors import DefinitionError
from runner.dsl.groups import Elif, Else, ExitHandler, If, ParallelFor
from runner.dsl.ir import compile, compile_to_file, compile_to_text
from runner.dsl.loading import importer, load_component, load_component_from_text
from runner.dsl.pipeline import GraphComponent, pipeline
from runner.dsl.tasks import PipelineTask
from runner.executor import (
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

__all__ = [
    "HTML",
    "Artifact",
    "BaseComponent",
    "ClassificationMetrics",
    "Collected",
    "ConcatPlaceholder",
    "ContainerComponent",
    "ContainerSpec",
    "Dataset",
    "DefinitionError",
    "Elif",
    "Else",
    "ExitHandler",
    "GraphComponent",
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
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "PythonComponent",
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
]
