"""Small pipelines written with the real kfp SDK, one per control-flow rule; test_control_flow.py compiles
and runs them. Task keys below are the ones kfp gives (a component's name, suffixed -2, -3 on reuse).

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# Inside a pipeline function a task's `.output` is a kfp channel standing for the declared return value.
# mypy: disable-error-code="no-any-return"

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Output, PipelineTaskFinalStatus
from kfp.dsl.graph_component import GraphComponent

from tests.integration.kfp_dsl import lightweight, pipeline

IMAGE = "flow-test/python:3.11"


component = lightweight(IMAGE)


# -- components -------------------------------------------------------------------------------------------


@component
def echo_int(n: int) -> int:
    return n


@component
def say(text: str) -> str:
    return text


@component
def square(x: int) -> int:
    return x * x


@component
def pair(a: str, b: int) -> str:
    return f"{a}{b}"


@component
def records() -> list:  # type: ignore[type-arg]  # list[dict[str, Any]]: kfp rejects items typed Any
    return [{"a": "p", "b": 1}, {"a": "q", "b": 2}, {"a": "r", "b": 3}]


@component
def write_text(text: str, out: Output[Dataset]) -> None:
    with open(out.path, "w") as handle:
        handle.write(text)


@component
def write_number_in_reverse(n: int, last: int, sync_dir: str, out: Output[Dataset]) -> None:
    """Items finish in reverse order: each waits until the next one's file is written."""
    import os
    import time

    if n < last:
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(sync_dir, str(n + 1))):
            if time.monotonic() > deadline:
                raise TimeoutError(f"item {n + 1} never finished")
            time.sleep(0.1)
        time.sleep(0.5)  # so that the engine sees the two finish apart
    with open(out.path, "w") as handle:
        handle.write(str(n))
    with open(os.path.join(sync_dir, str(n)), "w") as handle:
        handle.write("done")


@component
def read_text(data: Input[Dataset]) -> str:
    with open(data.path) as handle:
        return f"{handle.read()}|{data.metadata.get('source', '')}"


@component
def sleep_one(i: int) -> int:
    import time

    time.sleep(1)
    return i


@component
def sum_ints(xs: list[int]) -> int:
    if not all(isinstance(x, int) for x in xs):
        raise TypeError(f"not all ints: {xs!r}")
    return sum(xs)


@component
def join_datasets(items: Input[list[Dataset]]) -> str:
    texts = []
    for item in items:
        with open(item.path) as handle:
            texts.append(handle.read())
    return ",".join(texts)


@component
def maybe_fail(fail: bool) -> str:
    if fail:
        raise RuntimeError("the body failed on purpose")
    return "body done"


@component
def report_status(status: PipelineTaskFinalStatus) -> str:
    return f"{status.state}|{status.pipeline_task_name}|{status.error_code}|{status.error_message}"


@component
def echo_or_default(text: str = "fallback") -> str:
    return text


@component
def flaky(counter_dir: str, name: str, failures: int) -> int:
    import os

    path = os.path.join(counter_dir, name)
    count = 1
    if os.path.exists(path):
        with open(path) as handle:
            count = int(handle.read()) + 1
    with open(path, "w") as handle:
        handle.write(str(count))
    if count <= failures:
        raise RuntimeError(f"{name}: attempt {count} fails on purpose")
    print(f"{name}: attempt {count} succeeds")
    return count


# -- pipelines --------------------------------------------------------------------------------------------

# The `say` tasks of `branches`, in the order the pipeline makes them.
BIG, BIG_INNER, MEDIUM, SMALL, TAIL, AFTER_BIG = "say", "say-2", "say-3", "say-4", "say-5", "say-6"
BRANCH_DAGS = {"big": "condition-2", "medium": "condition-3", "small": "condition-4"}
BRANCH_TASKS = {"big": {BIG, BIG_INNER}, "medium": {MEDIUM}, "small": {SMALL}}
BRANCH_GROUP = "condition-branches-1"


@pipeline("branches")
def branches(n: int) -> str:
    value = echo_int(n=n)
    # 10 > 9 holds only when compared as numbers: as strings "10" < "9".
    with dsl.If(value.output > 9, name="big"):
        big = say(text="big")
        say(text="inner").after(big)
    with dsl.Elif(value.output > 2, name="medium"):
        medium = say(text="medium")
    with dsl.Else(name="small"):
        small = say(text="small")
    chosen = dsl.OneOf(big.output, medium.output, small.output)
    say(text=chosen)
    say(text="after").after(big)  # downstream only of `big`, skipped unless n > 9
    return chosen


@pipeline("loops")
def loops(letters: list[str]) -> None:
    with dsl.ParallelFor([1, 2, 3]) as x:
        square(x=x)
    with dsl.ParallelFor(letters) as letter:
        write_text(text=letter)
    rows = records()
    with dsl.ParallelFor(rows.output) as row:
        pair(a=row.a, b=row.b)
    with dsl.ParallelFor(["x", "y"]) as outer, dsl.ParallelFor([1, 2]) as inner:
        pair(a=outer, b=inner)


@pipeline("limited")
def limited() -> None:
    with dsl.ParallelFor([0, 1, 2, 3, 4, 5], parallelism=2) as i:
        sleep_one(i=i)


class FanIn(NamedTuple):
    total: int
    joined: str


@pipeline("fan-in")
def fan_in(sync_dir: str) -> FanIn:
    with dsl.ParallelFor([1, 2, 3]) as x:
        squared = square(x=x)
        written = write_number_in_reverse(n=x, last=3, sync_dir=sync_dir)
    total = sum_ints(xs=dsl.Collected(squared.output))
    joined = join_datasets(items=dsl.Collected(written.outputs["out"]))
    return FanIn(total=total.output, joined=joined.output)


# Exit tasks and bodies of `exit_handlers`: the first handler guards a body that may fail.
FIRST_EXIT, SECOND_EXIT = "report-status", "report-status-2"
FIRST_HANDLER, SECOND_HANDLER = "exit-handler-1", "exit-handler-2"


@pipeline("exit-handlers")
def exit_handlers(fail_body: bool) -> None:
    with dsl.ExitHandler(report_status()):
        maybe_fail(fail=fail_body)
    with dsl.ExitHandler(report_status()):
        say(text="second body")


@pipeline("ignore-failure")
def ignore_failure() -> str:
    broken = maybe_fail(fail=True)
    return echo_or_default(text=broken.output).ignore_upstream_failure().output


@pipeline("importing")
def importing(uri: str) -> str:
    imported = dsl.importer(artifact_uri=uri, artifact_class=Dataset, metadata={"source": "test-data"})
    read = read_text(data=imported.output)
    say(text="uncached").set_caching_options(False)
    return read.output


def reimporting(reimport: bool) -> GraphComponent:
    """The same pipeline (by name) with an importer whose `reimport` is given; its metadata is a parameter."""

    @pipeline("reimporting")
    def imports(uri: str, source: str) -> str:
        imported = dsl.importer(
            artifact_uri=uri, artifact_class=Dataset, reimport=reimport, metadata={"source": source}
        )
        read = read_text(data=imported.output)
        say(text="uncached").set_caching_options(False)
        return read.output

    return imports


@pipeline("retrying")
def retrying(counter_dir: str) -> int:
    recovers = flaky(counter_dir=counter_dir, name="recovers", failures=2)
    recovers.set_retry(num_retries=2, backoff_duration="1s", backoff_factor=2)
    flaky(counter_dir=counter_dir, name="gives-up", failures=99).set_retry(num_retries=1)
    return recovers.output
