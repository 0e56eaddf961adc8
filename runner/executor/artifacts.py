"""Artifact types and annotation markers of flow's Python components (standard library only).

`Input[Dataset]` and `Output[Model]` annotate a component's artifact parameters; inside a task the executor
passes instances whose `.path` is where the file lives. The same classes are the SDK's (`runner.Dataset`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

T = TypeVar("T")


class _Direction:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_INPUT, _OUTPUT = _Direction("Input"), _Direction("Output")
Input = Annotated[T, _INPUT]
Output = Annotated[T, _OUTPUT]

_REMOTE_MOUNTS = {"gs://": "/gcs/", "s3://": "/s3/", "minio://": "/minio/"}


class Artifact:
    """An artifact: a file or folder at `path` (its `uri` as seen inside the task) and a metadata dict."""

    schema_title = "system.Artifact"
    schema_version = "0.0.1"

    def __init__(self, name: str = "", uri: str = "", metadata: dict[str, Any] | None = None) -> None:
        self.name = name
        self.uri = uri
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}

    @property
    def path(self) -> str:
        for prefix, mount in _REMOTE_MOUNTS.items():
            if self.uri.startswith(prefix):
                return mount + self.uri[len(prefix) :]
        return self.uri

    @path.setter
    def path(self, value: str) -> None:
        for prefix, mount in _REMOTE_MOUNTS.items():
            if value.startswith(mount):
                value = prefix + value[len(mount) :]
                break
        self.uri = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, metadata={self.metadata!r})"


class Dataset(Artifact):
    schema_title = "system.Dataset"


class Model(Artifact):
    schema_title = "system.Model"

    @property
    def framework(self) -> str:
        return str(self.metadata.get("framework", ""))

    @framework.setter
    def framework(self, value: str) -> None:
        self.metadata["framework"] = value


class Metrics(Artifact):
    """Scalar metrics, kept in the artifact's metadata (what KFP's UI shows)."""

    schema_title = "system.Metrics"

    def log_metric(self, metric: str, value: float) -> None:
        self.metadata[metric] = value


class ClassificationMetrics(Artifact):
    """An ROC curve and a confusion matrix, in the metadata layout KFP uses."""

    schema_title = "system.ClassificationMetrics"

    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        point = {"confidenceThreshold": threshold, "recall": tpr, "falsePositiveRate": fpr}
        self.metadata.setdefault("confidenceMetrics", []).append(point)

    def log_roc_curve(self, fpr: list[float], tpr: list[float], threshold: list[float]) -> None:
        if not len(fpr) == len(tpr) == len(threshold):
            raise ValueError("fpr, tpr and threshold must have the same length")
        for f, t, h in zip(fpr, tpr, threshold, strict=True):
            self.log_roc_data_point(f, t, h)

    def set_confusion_matrix_categories(self, categories: list[str]) -> None:
        self.metadata["confusionMatrix"] = {
            "annotationSpecs": [{"displayName": c} for c in categories],
            "rows": [{"row": [0] * len(categories)} for _ in categories],
        }

    def _categories(self) -> list[str]:
        specs = self.metadata.get("confusionMatrix", {}).get("annotationSpecs", [])
        return [s["displayName"] for s in specs]

    def log_confusion_matrix_row(self, row_category: str, row: Sequence[float]) -> None:
        categories = self._categories()
        if row_category not in categories or len(row) != len(categories):
            raise ValueError(f"row {row_category!r} does not fit the categories {categories}")
        self.metadata["confusionMatrix"]["rows"][categories.index(row_category)] = {"row": list(row)}

    def log_confusion_matrix_cell(self, row_category: str, col_category: str, value: int) -> None:
        categories = self._categories()
        if row_category not in categories or col_category not in categories:
            raise ValueError(f"({row_category!r}, {col_category!r}) is not in the categories {categories}")
        rows = self.metadata["confusionMatrix"]["rows"]
        rows[categories.index(row_category)]["row"][categories.index(col_category)] = value

    def log_confusion_matrix(self, categories: list[str], matrix: Sequence[Sequence[float]]) -> None:
        self.set_confusion_matrix_categories(categories)
        if len(matrix) != len(categories):
            raise ValueError(f"the matrix has {len(matrix)} rows for {len(categories)} categories")
        for category, row in zip(categories, matrix, strict=True):
            self.log_confusion_matrix_row(category, row)


class HTML(Artifact):
    schema_title = "system.HTML"


class Markdown(Artifact):
    schema_title = "system.Markdown"


ARTIFACT_TYPES: dict[str, type[Artifact]] = {
    cls.schema_title: cls
    for cls in (Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown)
}


class PipelineTaskFinalStatus:
    """What an exit handler's task learns about the tasks it guards."""

    def __init__(
        self,
        state: str = "",
        pipeline_job_resource_name: str = "",
        pipeline_task_name: str = "",
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> None:
        self.state = state
        self.pipeline_job_resource_name = pipeline_job_resource_name
        self.pipeline_task_name = pipeline_task_name
        self.error_code = error_code
        self.error_message = error_message


class OutputPath:
    """`out: OutputPath(int)`: the function gets the path of a file to write the output to."""

    def __init__(self, type: Any = str) -> None:
        self.type = type


class InputPath:
    """`data: InputPath(Dataset)`: the function gets the path of an input artifact."""

    def __init__(self, type: Any = Artifact) -> None:
        self.type = type


# What a component's code may use without importing it, as kfp offers `from kfp.dsl import *`.
COMPONENT_NAMES = (
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
)
