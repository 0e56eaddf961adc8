"""The Kubeflow Pipelines v2 IR: load, validate, model."""

from runner.spec.load import load_file, load_text
from runner.spec.model import PipelineSpec

__all__ = ["PipelineSpec", "load_file", "load_text"]
