"""kfp sources of the conformance suite's kfp-compiled pipelines (runner/testing/*.yaml). The suite ships
with flow and runs without kfp, so it keeps the compiled text; test_conformance checks that the text is
what kfp 2.17.3 compiles from these functions (`python -m tests.integration.kfp_conformance_pipelines`
writes it).

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# mypy: disable-error-code="no-any-return"

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, OutputPath

from runner.testing.conformance import KFP_INPUTS, KFP_ONE_IMPORT, KFP_UNREADABLE_IMPORTS
from tests.integration.kfp_dsl import lightweight

# Names the suite's image_map translates (the test images, on this project's machines).
PYTHON = "python:3.11"
BUSYBOX = "busybox:latest"


component = lightweight(PYTHON)


@component
def show(text: str) -> str:
    return text


@component
def pair(a: str, b: str) -> str:
    return f"{a}|{b}"


@component
def mixed() -> list:  # type: ignore[type-arg]
    return [3, 2.5, True, {"k": [1]}]


@component
def number_kind(x: float) -> str:
    return f"{type(x).__name__} {x}"


@dsl.container_component
def shout(text: str, said: dsl.OutputPath(str)):  # type: ignore[no-untyped-def, valid-type]
    return dsl.ContainerSpec(
        image=BUSYBOX, command=["sh", "-c", 'printf "%s" "$0" > "$1"'], args=[text, said]
    )


@dsl.container_component
def limits(said: dsl.OutputPath(str)):  # type: ignore[no-untyped-def, valid-type]
    """The memory limit and CPU quota (per 100 ms period) the task runs under, as its cgroup says."""
    read = (
        "cd /sys/fs/cgroup; if [ -f memory.max ]; then m=$(cat memory.max); c=$(cut -d' ' -f1 cpu.max);"
        " else m=$(cat memory/memory.limit_in_bytes); c=$(cat cpu/cpu.cfs_quota_us); fi"
    )
    return dsl.ContainerSpec(
        image=BUSYBOX, command=["sh", "-c", f'{read}; printf "%s %s" "$m" "$c" > "$0"'], args=[said]
    )


@dsl.pipeline(name="conformance-kfp-inner")
def inner(y: str) -> str:
    return show(text=f"inner {y}").output


@dsl.pipeline(name="conformance-kfp-inputs")
def kfp_inputs(
    word: str = "flow", n: int = 3, memory: str = "64Mi", cpu: str = "500m", bad_cpu: str = "lots"
):  # type: ignore[no-untyped-def]
    """f-strings in a lightweight and a container component, in a loop and a nested pipeline; values of any
    type given to STRING inputs; a whole double; resources from parameters, one of them bad."""
    show(text=f"{word}-{n}")
    shout(text=f"{word} and {n} <= 5!")
    with dsl.ParallelFor(mixed().output) as item:
        pair(a=item, b=f"item {item}")
    inner(y=f"outer {word}")
    number_kind(x=3.0)
    limits().set_memory_limit(memory).set_cpu_limit(cpu).set_caching_options(False)
    show(text="never runs").set_cpu_limit(bad_cpu)


@dsl.container_component
def read_artifact(data: Input[Dataset], text: OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    """Writes the artifact's content and the URI the task was given, as `content|uri`."""
    return dsl.ContainerSpec(
        image=BUSYBOX,
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


COMPILED = {KFP_INPUTS: kfp_inputs, KFP_ONE_IMPORT: one_import, KFP_UNREADABLE_IMPORTS: unreadable_imports}


def main() -> None:
    for path, pipeline in COMPILED.items():
        compiler.Compiler().compile(pipeline, package_path=str(path))


if __name__ == "__main__":
    main()
