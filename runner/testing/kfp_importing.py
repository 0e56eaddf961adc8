"""Importer pipelines written with the real kfp SDK, compiled by it for the conformance suite's importer
cases: busybox container components, so that the images need no Python. Importing this module needs kfp
(a dev dependency of flow's); the suite skips those cases without it.

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# A task's output in a pipeline function is a kfp channel standing for the declared return value.
# mypy: disable-error-code="untyped-decorator,no-any-return"

import tempfile
from pathlib import Path
from typing import Any

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, OutputPath

IMAGE = "busybox:latest"
SOURCE = "conformance"  # the `source` parameter the cases pass, which the importer's metadata holds
# The metadata `one_import` gives its artifact once its placeholders are filled with SOURCE.
RESOLVED_METADATA = {"source": SOURCE, "label": f"from-{SOURCE}", "list": [SOURCE, 1], SOURCE: "as-key"}


@dsl.container_component
def read_artifact(data: Input[Dataset], text: OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    """Writes the artifact's content and the URI the task was given, as `content|uri`."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["sh", "-c", 'printf "%s|%s" "$(cat "$0")" "$1" > "$2"'],
        args=[data.path, data.uri, text],
    )


@dsl.pipeline(name="conformance-one-import")
def one_import(uri: str, source: str) -> str:
    imported = dsl.importer(
        artifact_uri=uri,
        artifact_class=Dataset,
        reimport=True,
        metadata={"source": source, "label": f"from-{source}", "list": [source, 1], source: "as-key"},
    )
    return read_artifact(data=imported.output).outputs["text"]


@dsl.pipeline(name="conformance-unreadable-imports")
def unreadable_imports(missing_uri: str, remote_uri: str) -> None:
    read_artifact(data=dsl.importer(artifact_uri=missing_uri, artifact_class=Dataset).output)
    read_artifact(data=dsl.importer(artifact_uri=remote_uri, artifact_class=Dataset).output)


def compiled(pipeline: Any) -> str:
    """The pipeline's IR YAML as kfp compiles it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, package_path=str(path))
        return path.read_text()
