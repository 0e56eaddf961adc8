"""Pipelines written with the real kfp SDK after the pipeline-level tests of kfp's local runner
(kubeflow/pipelines sdk/python/kfp/local: pipeline_orchestrator_test.py and the pipeline tests of
task_dispatcher_test.py). Each exercises the behaviour one of those tests checks, in pipelines of our own;
test_kfp_local_ports.py runs them and expects what the Kubeflow Pipelines backend gives.

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# Inside a pipeline function a task's `.output` is a kfp channel standing for the declared return value.
# mypy: disable-error-code="no-any-return"

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output, PipelineTaskFinalStatus
from kfp.dsl.graph_component import GraphComponent

from tests.integration.kfp_dsl import lightweight, pipeline

# kfp's default base image; the docker tests map it to the local test image.
IMAGE = "python:3.11"


component = lightweight(IMAGE)


# -- components -------------------------------------------------------------------------------------------


@component
def noop() -> None:
    pass


@component
def echo(text: str) -> str:
    return text


@component
def crash(message: str) -> None:
    raise ValueError(message)


@component
def bundle(
    real: float,
    flag: bool,
    mapping: dict,  # type: ignore[type-arg]
    text: str = "unset",
    whole: int = 7,
    items: list = ["first", "second"],  # type: ignore[type-arg]  # noqa: B006  # the IR default
) -> NamedTuple(  # type: ignore[valid-type]  # kfp reads a call here, not a class
    "outputs", text=str, real=float, whole=int, flag=bool, items=list, mapping=dict
):
    from collections import namedtuple

    # Each value must arrive with its own type, so a wrong coercion fails the task.
    typed = [(real, float), (flag, bool), (mapping, dict), (text, str), (whole, int), (items, list)]
    for value, kind in typed:
        if type(value) is not kind:
            raise TypeError(f"{value!r} is not a {kind.__name__}")
    outputs = namedtuple("outputs", ["text", "real", "whole", "flag", "items", "mapping"])
    return outputs(text, real, whole, flag, items, mapping)


@component
def describe(data: Input[Dataset]) -> str:
    with open(data.path) as handle:
        return f"{data.uri} {data.metadata} {handle.read()}"


@dsl.container_component
def shell_echo(text: str, said: dsl.OutputPath(str)):  # type: ignore[no-untyped-def]  # kfp's own types
    return dsl.ContainerSpec(
        image="busybox:latest",
        command=["sh", "-c", 'mkdir -p "$(dirname "$1")" && printf "%s" "$0" > "$1"'],
        args=[text, said],
    )


@component
def write_file(text: str, folder: str) -> str:
    import os

    path = os.path.join(folder, "written.txt")
    with open(path, "w") as handle:
        handle.write(text)
    return path


@component
def read_file(path: str) -> str:
    with open(path) as handle:
        return handle.read()


@component
def write_dataset(text: str, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write(text)
    data.metadata["format"] = "text"


@component
def train_model(data: Input[Dataset], model: Output[Model]) -> None:
    with open(data.path) as handle:
        text = handle.read()
    with open(model.path, "w") as handle:
        handle.write(text.upper())
    model.metadata["trained_on"] = data.metadata
    model.metadata["rows"] = 1


@component
def halve(x: float) -> float:
    return x / 2


@component
def add(x: float, y: float) -> float:
    return x + y


@component
def number_to_dataset(x: float, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write(repr(x))


@component
def dataset_to_number(data: Input[Dataset]) -> float:
    with open(data.path) as handle:
        return float(handle.read())


@component
def read_env(names: list) -> str:  # type: ignore[type-arg]
    import os

    return ",".join(os.environ.get(name, "<unset>") for name in names)


@component
def count_call(counter_dir: str, name: str, value: str) -> str:
    """Appends a mark to a file per call, so a test can tell how often the component really ran."""
    import os

    with open(os.path.join(counter_dir, name), "a") as handle:
        handle.write("x")
    return value


@component
def fail_until(counter_dir: str, name: str, succeed_on: int) -> str:
    import os

    path = os.path.join(counter_dir, name)
    attempt = 1
    if os.path.exists(path):
        with open(path) as handle:
            attempt = int(handle.read()) + 1
    with open(path, "w") as handle:
        handle.write(str(attempt))
    if attempt < succeed_on:
        raise RuntimeError(f"attempt {attempt} of {name} fails on purpose")
    return f"{name} passed on attempt {attempt}"


@component
def final_state(status: PipelineTaskFinalStatus) -> str:
    return f"{status.state} {status.pipeline_task_name}"


@component
def record_final_state(status: PipelineTaskFinalStatus, marker_dir: str, name: str) -> None:
    import os

    with open(os.path.join(marker_dir, name), "w") as handle:
        handle.write(status.state)


@component
def mark(marker_dir: str, name: str) -> str:
    import os

    with open(os.path.join(marker_dir, name), "w") as handle:
        handle.write("ran")
    return name


# -- pipelines after pipeline_orchestrator_test.py --------------------------------------------------------


@pipeline("no-io")
def no_io() -> None:
    noop()
    noop()


@pipeline("needs-an-argument")
def needs_an_argument(word: str) -> str:
    return echo(text=word).output


@pipeline("chained-return")
def chained_return(word: str = "default word") -> str:
    first = echo(text=word)
    return echo(text=first.output).output


class ParameterOutputs(NamedTuple):
    text: str
    real: float
    whole: int
    flag: bool
    items: list  # type: ignore[type-arg]
    mapping: dict  # type: ignore[type-arg]


@pipeline("every-parameter-type")
def every_parameter_type(
    real: float,
    flag: bool,
    mapping: dict = {"from": "pipeline default"},  # type: ignore[type-arg]  # noqa: B006
) -> ParameterOutputs:
    # Values from a pipeline argument, a pipeline default, a constant, a component default and an upstream
    # output; the pipeline's outputs come from the first task and from the last.
    first = bundle(real=real, flag=True, mapping={"from": "constant"}, whole=3)
    second = bundle(real=first.outputs["real"], flag=flag, mapping=mapping)
    return ParameterOutputs(
        text=first.outputs["text"],
        real=first.outputs["real"],
        whole=first.outputs["whole"],
        flag=second.outputs["flag"],
        items=second.outputs["items"],
        mapping=first.outputs["mapping"],
    )


@pipeline("artifact-chain")
def artifact_chain(text: str = "some rows") -> Model:
    data = write_dataset(text=text)
    return train_model(data=data.outputs["data"]).outputs["model"]


@pipeline("inner-echo")
def inner_echo() -> str:
    return echo(text="from the inner pipeline").output


@pipeline("outer-echo")
def outer_echo() -> str:
    return inner_echo().output


@pipeline("half-sum-to-dataset")
def half_sum_to_dataset(a: float, b: float) -> Dataset:
    total = add(x=halve(x=a).output, y=halve(x=b).output)
    return number_to_dataset(x=total.output).outputs["data"]


@pipeline("half-sum")
def half_sum(a: float = 3.0, b: float = 5.0) -> float:
    inner = half_sum_to_dataset(a=a, b=b)
    return halve(x=dataset_to_number(data=inner.output).output).output


@pipeline("nested-arithmetic")
def nested_arithmetic(a: float, offset: float = 0.25) -> float:
    middle = half_sum(a=a, b=9.0)
    return add(x=middle.output, y=offset).output


@pipeline("imported")
def imported(greeting: str, uri: str) -> Dataset:
    key = echo(text="words")
    second = echo(text="world")
    artifact = dsl.importer(
        artifact_uri=uri, artifact_class=Dataset, metadata={key.output: [greeting, second.output]}
    )
    describe(data=artifact.output)
    return artifact.output


@pipeline("f-strings")
def f_strings(word: str = "middle") -> str:
    first = echo(text=f"inner-{word}")
    return echo(text=f"outer-{first.output}").output


@pipeline("f-strings-in-containers")
def f_strings_in_containers(word: str = "middle") -> str:
    first = shell_echo(text=f"inner-{word}")
    return shell_echo(text=f"outer-{first.output}").output


@dsl.pipeline(
    name="through-the-workspace",
    pipeline_config=dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size="1Gi")),
)
def through_the_workspace(text: str = "kept in the workspace") -> str:
    path = write_file(text=text, folder=dsl.WORKSPACE_PATH_PLACEHOLDER)
    return read_file(path=path.output).output


@pipeline("one-at-a-time")
def one_at_a_time() -> None:
    with dsl.ParallelFor(["a", "b", "c", "d"], parallelism=1) as item:
        echo(text=item)


@pipeline("loop-without-io")
def loop_without_io() -> None:
    with dsl.ParallelFor([1, 2, 3]):
        noop()


@pipeline("false-condition")
def false_condition(word: str) -> None:
    with dsl.If(word == "expected"):
        noop()


@pipeline("top-level-failure")
def top_level_failure() -> None:
    crash(message="raised at the top level")


@pipeline("fails-inside")
def fails_inside() -> None:
    crash(message="raised two levels down")


@pipeline("middle-layer")
def middle_layer() -> None:
    fails_inside()


@pipeline("nested-failure")
def nested_failure() -> str:
    middle_layer()
    return echo(text="independent of the failure").output


# -- pipelines after the pipeline tests of task_dispatcher_test.py ----------------------------------------


class EnvironmentOutputs(NamedTuple):
    one: str
    two: str


@pipeline("environment")
def environment() -> EnvironmentOutputs:
    one = read_env(names=["FIRST_VAR"]).set_env_variable("FIRST_VAR", "alpha")
    two = read_env(names=["FIRST_VAR", "SECOND_VAR", "NOT_SET_VAR"])
    two.set_env_variable("FIRST_VAR", "beta").set_env_variable("SECOND_VAR", "gamma")
    return EnvironmentOutputs(one=one.output, two=two.output)


@pipeline("either-branch")
def either_branch(choice: str) -> str:
    with dsl.If(choice == "left"):
        left = echo(text="took the left branch")
    with dsl.Else():
        right = echo(text="took the right branch")
    return dsl.OneOf(left.output, right.output)


@pipeline("retry-until-it-passes")
def retry_until_it_passes(counter_dir: str) -> str:
    task = fail_until(counter_dir=counter_dir, name="passes", succeed_on=3)
    task.set_retry(num_retries=3, backoff_duration="0s", backoff_factor=1.0)
    return task.output


@pipeline("retries-run-out")
def retries_run_out(counter_dir: str) -> str:
    task = fail_until(counter_dir=counter_dir, name="never", succeed_on=100)
    task.set_retry(num_retries=1, backoff_duration="0s", backoff_factor=1.0)
    return task.output


@pipeline("exit-after-success")
def exit_after_success(marker_dir: str) -> str:
    status = final_state()
    with dsl.ExitHandler(status, name="guarded"):
        mark(marker_dir=marker_dir, name="body")
    return status.output


@pipeline("exit-after-failure")
def exit_after_failure(marker_dir: str) -> None:
    exit_task = record_final_state(marker_dir=marker_dir, name="exit-status")
    with dsl.ExitHandler(exit_task, name="guarded"):
        crash(message="the body fails")


@pipeline("kubernetes-settings")
def kubernetes_settings() -> str:
    task = echo(text="ran with settings").set_cpu_limit("1").set_memory_limit("512Mi")
    return task.set_display_name("a display name").output


@pipeline("cleanup-after-failure")
def cleanup_after_failure(marker_dir: str) -> None:
    broken = crash(message="upstream fails")
    mark(marker_dir=marker_dir, name="cleanup").after(broken).ignore_upstream_failure()


@pipeline("status-after-failure")
def status_after_failure(marker_dir: str) -> None:
    broken = crash(message="upstream fails")
    handler = record_final_state(marker_dir=marker_dir, name="status")
    handler.after(broken).ignore_upstream_failure()


@pipeline("status-of-an-upstream-task")
def status_of_an_upstream_task() -> str:
    upstream = echo(text="served from the cache the second time")
    return final_state().after(upstream).ignore_upstream_failure().output


@pipeline("counted")
def counted(counter_dir: str, value: str = "same") -> str:
    return count_call(counter_dir=counter_dir, name="counted", value=value).output


@pipeline("counted-uncached")
def counted_uncached(counter_dir: str) -> str:
    task = count_call(counter_dir=counter_dir, name="uncached", value="same")
    return task.set_caching_options(False).output


def embedding(folder: str) -> GraphComponent:
    """A pipeline whose component carries `folder` inside its own definition (kfp's embedded artifact)."""

    @dsl.component(base_image=IMAGE, install_kfp_package=False, embedded_artifact_path=folder)
    def read_embedded(files: dsl.EmbeddedInput[Dataset], copy: Output[Dataset]) -> str:
        import os
        import shutil

        shutil.copy(os.path.join(files.path, "notes.txt"), copy.path)
        with open(copy.path) as handle:
            return handle.read()

    @pipeline("embedded-files")
    def embedded_files() -> str:
        return read_embedded().outputs["Output"]

    return embedded_files
