"""Pipelines written with flow's own SDK, run by test_sdk.py on flow's backends and under kfp.local.

The components name the public image python:3.11; the docker tests map it to the local test image.
"""

# Inside a pipeline function a component call returns a task, whatever the function's annotation says.
# mypy: disable-error-code="no-any-return"

from typing import NamedTuple

from runner import (
    Collected,
    ContainerSpec,
    Dataset,
    Elif,
    Else,
    ExitHandler,
    If,
    Input,
    Metrics,
    Model,
    OneOf,
    Output,
    OutputPath,
    ParallelFor,
    PipelineTaskFinalStatus,
    component,
    container_component,
    importer,
    pipeline,
)


class Stats(NamedTuple):
    count: int
    mean: float


@component
def make_numbers(n: int, scale: float, numbers: Output[Dataset], label: str = "nums") -> Stats:
    values = [i * scale for i in range(n)]
    with open(numbers.path, "w") as handle:
        handle.write("\n".join(str(v) for v in values))
    numbers.metadata["label"] = label
    return Stats(n, sum(values) / n)


@component
def fit(numbers: Input[Dataset], count: int, model: Output[Model], metrics: Output[Metrics]) -> float:
    with open(numbers.path) as handle:
        values = [float(line) for line in handle.read().splitlines()]
    assert len(values) == count, (len(values), count)
    with open(model.path, "w") as handle:
        handle.write(f"total={sum(values)}")
    model.framework = "sum"
    metrics.log_metric("count", len(values))
    metrics.log_metric("label_seen", numbers.metadata.get("label") == "nums")
    return sum(values)


@component
def describe_options(flags: dict, tags: list, note: str | None = None, loud: bool = False) -> str:
    text = f"{sorted(flags.items())} {tags} {note}"
    return text.upper() if loud else text


class BasicsOutputs(NamedTuple):
    total: float
    mean: float


@pipeline(name="sdk-basics")
def basics(n: int = 4, scale: float = 0.5) -> BasicsOutputs:
    made = make_numbers(n=n, scale=scale)
    fitted = fit(numbers=made.outputs["numbers"], count=made.outputs["count"])
    describe_options(flags={"a": 1}, tags=["x", "y"], loud=True).set_caching_options(False)
    return BasicsOutputs(fitted.outputs["Output"], made.outputs["mean"])


@component
def number(n: int) -> int:
    return n


@component
def word(text: str) -> str:
    print("word:", text)
    return text


@component
def write_item(n: int, out: Output[Dataset]) -> None:
    with open(out.path, "w") as handle:
        handle.write(str(n * 10))


@component
def add_up(values: list) -> int:
    return sum(values)


@component
def join_files(files: Input[list[Dataset]]) -> str:
    return ",".join(sorted(open(f.path).read() for f in files))


@component
def read_text(data: Input[Dataset]) -> str:
    with open(data.path) as handle:
        return handle.read()


@component
def final_state(status: PipelineTaskFinalStatus) -> str:
    return status.state


@container_component
def shout(text: str, out: OutputPath(str)):  # type: ignore[no-untyped-def,valid-type]
    return ContainerSpec(
        image="python:3.11",
        command=["python3", "-c", "import sys; open(sys.argv[2], 'w').write(sys.argv[1].upper())"],
        args=[text, out],
    )


@pipeline(name="sdk-inner")
def inner(text: str) -> str:
    return word(text=text).output


class FlowOutputs(NamedTuple):
    squares: list  # type: ignore[type-arg]


@pipeline(name="sdk-control-flow")
def control_flow(x: int = 3, items: list = [1, 2, 3], uri: str = "") -> FlowOutputs:  # type: ignore[type-arg]  # noqa: B006
    status = final_state()
    with ExitHandler(status, name="body"):
        first = number(n=x)
        with If(first.output > 2, name="big"):
            word(text="big")
        with Elif(first.output == 2):
            word(text="two")
        with Else():
            word(text="small")
        with ParallelFor([1, 2, 3], parallelism=2) as item:
            square = number(n=item)
            files = write_item(n=item)
        add_up(values=Collected(square.output))
        join_files(files=Collected(files.outputs["out"]))
        with ParallelFor(items) as each, If(each == 2):
            word(text="two in the list")
        imported = importer(artifact_uri=uri, artifact_class=Dataset)
        read_text(data=imported.output)
        shout(text="quiet")
        inner(text="nested")
    return FlowOutputs(Collected(square.output))


@component
def fail_loudly(message: str) -> None:
    raise ValueError(f"boom: {message}")


@pipeline(name="sdk-failing")
def failing() -> None:
    fail_loudly(message="on purpose")


@pipeline(name="sdk-oneof")
def one_of(x: int = 1) -> str:
    with If(x > 1):
        big = word(text="big")
    with Else():
        small = word(text="small")
    chosen = OneOf(big.output, small.output)
    return word(text=chosen).output


@pipeline(name="sdk-fan-out")
def fan_out(items: list = [1, 2, 3]) -> int:  # type: ignore[type-arg]  # noqa: B006
    with ParallelFor(items, parallelism=2) as item:
        square = number(n=item)
    return add_up(values=Collected(square.output)).output


@component
def join_texts(texts: list) -> str:
    return ",".join(texts)


@pipeline(name="sdk-files")
def files(ns: list = [1, 2, 3]) -> list[Dataset]:  # type: ignore[type-arg]  # noqa: B006
    with ParallelFor(ns) as n:
        written = write_item(n=n)
    return Collected(written.outputs["out"])


@pipeline(name="sdk-read-all")
def read_all(datasets: Input[list[Dataset]]) -> str:
    with ParallelFor(datasets, parallelism=2) as data:
        text = read_text(data=data)
    return join_texts(texts=Collected(text.output)).output


class ArtifactLoopOutputs(NamedTuple):
    everything: str
    above_ten: str
    seventy: Dataset


@pipeline(name="sdk-artifact-loops")
def artifact_loops(ns: list = [1, 2, 3]) -> ArtifactLoopOutputs:  # type: ignore[type-arg]  # noqa: B006
    made = files(ns=ns)
    everything = read_all(datasets=made.output)
    with ParallelFor(made.output) as data:
        text = read_text(data=data)
        with If(text.output != "10"):
            kept = word(text=text.output)
    above_ten = join_texts(texts=Collected(kept.output))
    return ArtifactLoopOutputs(everything.output, above_ten.output, write_item(n=7).outputs["out"])
