"""Pipelines whose runs the UI tests look at: every kind of artifact the page previews, and metrics."""

from __future__ import annotations

from runner import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    ParallelFor,
    component,
    importer,
    pipeline,
)


@component
def make_table(rows: int, table: Output[Dataset]) -> None:
    with open(table.path, "w") as handle:
        handle.write("name,value\n")
        for i in range(rows):
            handle.write(f"row-{i},{i * 10}\n")
    print(f"wrote {rows} rows")


@component
def make_reports(
    page: Output[HTML], notes: Output[Markdown], summary: Output[Artifact], picture: Output[Artifact]
):  # type: ignore[no-untyped-def]
    import json
    import struct
    import zlib

    with open(page.path, "w") as handle:
        handle.write(
            "<html><body><h1>report</h1><script>parent.document.title = 'owned'</script></body></html>"
        )
    with open(notes.path, "w") as handle:
        handle.write("# Notes\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n")
    with open(summary.path, "w") as handle:
        json.dump({"rows": 3, "ok": True}, handle)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    with open(picture.path, "wb") as handle:
        handle.write(
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
        )


@component
def evaluate(
    table: Input[Dataset], threshold: float, metrics: Output[Metrics], matrix: Output[ClassificationMetrics]
) -> int:
    with open(table.path) as handle:
        count = len(handle.read().splitlines()) - 1
    metrics.log_metric("rows", count)
    metrics.log_metric("accuracy", 0.875 if threshold < 0.6 else 0.75)
    matrix.log_confusion_matrix(["cat", "dog"], [[3, 1], [0, 4]])
    matrix.log_roc_curve([0.0, 0.25, 1.0], [0.0, 0.75, 1.0], [1.0, 0.5, 0.0])
    for point, precision in zip(matrix.metadata["confidenceMetrics"], [1.0, 0.75, 0.5], strict=True):
        point["precision"] = precision  # as kfp's ConfidenceMetrics carries it, for a precision-recall curve
    print(f"evaluated {count} rows at threshold {threshold}")
    return count


@pipeline(name="ui-reports")
def reports(rows: int = 3, threshold: float = 0.5) -> int:
    table = make_table(rows=rows)
    make_reports()
    return evaluate(table=table.outputs["table"], threshold=threshold).outputs["Output"]


@pipeline(name="ui-imports")
def imports(uri: str) -> None:
    importer(artifact_uri=uri, artifact_class=Dataset)


@component
def train(lr: float, model: Output[Model]) -> float:
    with open(model.path, "w") as handle:
        handle.write(f"weights at {lr}")
    return lr * 2


@component
def score(model: Input[Model]) -> None:
    with open(model.path) as handle:
        print(handle.read())


@pipeline(name="ui-sweep")
def sweep(rates: list = [0.1, 0.2]) -> None:  # noqa: B006 (a pipeline's default, compiled into the IR)
    with ParallelFor(rates) as rate:
        trained = train(lr=rate)
        score(model=trained.outputs["model"])
