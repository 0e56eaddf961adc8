"""A kfp-compiled pipeline whose artifacts are a file, a folder and an imported file: test_s3_root.py runs it
with an s3:// pipeline root on every local backend.

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# kfp's decorators are untyped, and a task's `.output` inside a pipeline function is a kfp channel.
# mypy: disable-error-code="untyped-decorator, no-any-return"

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

IMAGE = "flow-test/python:3.11"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def write_rows(n: int, table: Output[Dataset], model: Output[Model]) -> None:
    import os

    with open(table.path, "w") as handle:
        handle.writelines(f"row-{i}\n" for i in range(n))
    table.metadata["rows"] = n
    os.makedirs(os.path.join(model.path, "weights"))
    with open(os.path.join(model.path, "weights", "layer-0"), "w") as handle:
        handle.write("w0")
    with open(os.path.join(model.path, "config.json"), "w") as handle:
        handle.write(f'{{"n": {n}}}')


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def summarize(table: Input[Dataset], model: Input[Model], notes: Input[Dataset]) -> str:
    import os

    with open(table.path) as handle:
        rows = handle.read().split()
    files = sorted(
        os.path.relpath(os.path.join(folder, name), model.path)
        for folder, _, names in os.walk(model.path)
        for name in names
    )
    with open(notes.path) as handle:
        note = handle.read().strip()
    return f"{len(rows)} rows ({table.metadata['rows']}), {table.uri.split('://')[0]}, {files}, {note}"


@dsl.pipeline(name="s3-artifacts")
def s3_artifacts(n: int, notes_uri: str) -> str:
    written = write_rows(n=n)
    notes = dsl.importer(artifact_uri=notes_uri, artifact_class=Dataset)
    summary = summarize(table=written.outputs["table"], model=written.outputs["model"], notes=notes.output)
    return summary.output
