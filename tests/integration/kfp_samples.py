"""Pipelines written with the real kfp SDK after the runnable samples of kubeflow/pipelines samples/core,
one per sample, each doing what its sample does in code of our own; test_kfp_samples.py runs them and
expects what the Kubeflow Pipelines backend gives.

The samples that cannot run here are listed, with the reason, in test_kfp_samples.py.

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# Inside a pipeline function a task's `.output` is a kfp channel standing for the declared return value.
# mypy: disable-error-code="no-any-return"

from typing import NamedTuple

from kfp import dsl, kubernetes
from kfp.dsl import Artifact, Input, Output

from tests.integration.kfp_dsl import lightweight, pipeline

# kfp's default base image; the docker tests map it to the local test image.
IMAGE = "python:3.11"
SHELL_IMAGE = "busybox:latest"


component = lightweight(IMAGE)


# -- components -------------------------------------------------------------------------------------------


@component
def timestamp(seconds: float) -> str:
    """What caching_sample's worker returns: when it ran (it works `seconds` first; the tests give 0)."""
    import datetime
    import time

    time.sleep(seconds)
    return datetime.datetime.now().isoformat()


@component
def toss(forced: str = "") -> str:
    import random

    return forced or random.choice(["heads", "tails"])


@component
def show(message: str) -> str:
    print(message)
    return message


@component
def show_number(number: int) -> int:
    print(number)
    return number


@component
def fail_with_exit_code(message: str, code: int) -> None:
    import sys

    print(message)
    sys.exit(code)


@component
def decimal_texts() -> list:  # type: ignore[type-arg]
    return ["0.5", "1.5", "2.5"]


@component
def numbered_pairs() -> list:  # type: ignore[type-arg]
    return [{"a": n, "b": n * 100} for n in (1, 2, 3)]


@component
def join_texts(a: str, b: str) -> str:
    return a + b


@component
def product_and_sum(a: float, b: float) -> NamedTuple(  # type: ignore[valid-type]  # kfp reads a call
    "outputs", product=float, sum=float
):
    from collections import namedtuple

    return namedtuple("outputs", ["product", "sum"])(a * b, a + b)


@component
def write_folder(folder: Output[Artifact], count: int, subdir: str) -> None:
    import os

    target = os.path.join(folder.path, subdir)
    os.makedirs(target)
    for n in range(count):
        with open(os.path.join(target, f"part-{n}.txt"), "w") as handle:
            handle.write(str(n))


@component
def list_folder(folder: Input[Artifact], subdir: str) -> list:  # type: ignore[type-arg]
    import os

    return sorted(os.listdir(os.path.join(folder.path, subdir)))


@component
def allocate(n: int) -> int:
    """resource_spec's task: holds n integers at once, so its memory limit must leave room for them."""
    held = list(range(n))
    return len(held)


@component
def resource_request() -> NamedTuple("outputs", memory=str, cpu=str):  # type: ignore[valid-type]
    from collections import namedtuple

    return namedtuple("outputs", ["memory", "cpu"])("500Mi", "200m")


@component
def exit_codes_in_turn(counter_dir: str, name: str, codes: str) -> None:
    """retry's task with its randomness taken out: attempt n exits with the n-th code of `codes`."""
    import os
    import sys

    path = os.path.join(counter_dir, name)
    attempt = 1
    if os.path.exists(path):
        with open(path) as handle:
            attempt = int(handle.read()) + 1
    with open(path, "w") as handle:
        handle.write(str(attempt))
    code = int(codes.split(",")[attempt - 1])
    print(f"attempt {attempt} exits with {code}")
    sys.exit(code)


@component
def write_to_claim() -> None:
    with open("/claim/data.txt", "w") as handle:
        handle.write("kept on the claim")


@component
def read_from_claim() -> str:
    with open("/mounted-again/data.txt") as handle:
        return handle.read()


@dsl.container_component
def copy_file(source: str, copied: dsl.OutputPath(str)):  # type: ignore[no-untyped-def]  # kfp's types
    """parallel_join's and sequential's download, from a file of the run's root instead of gs://."""
    return dsl.ContainerSpec(
        image=SHELL_IMAGE,
        command=["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat "$0" | tee "$1"'],
        args=[source, copied],
    )


@dsl.container_component
def print_both(first: str, second: str):  # type: ignore[no-untyped-def]  # kfp's types
    return dsl.ContainerSpec(
        image=SHELL_IMAGE,
        command=["sh", "-c", 'echo "first: $0"; echo "second: $1"'],
        args=[first, second],
    )


@dsl.container_component
def print_one(text: str):  # type: ignore[no-untyped-def]  # kfp's types
    return dsl.ContainerSpec(image=SHELL_IMAGE, command=["sh", "-c", 'echo "$0"'], args=[text])


# -- pipelines --------------------------------------------------------------------------------------------


@pipeline("cached-timestamp")
def cached_timestamp(seconds: float = 0) -> str:
    return timestamp(seconds=seconds).output


@pipeline("uncached-timestamp")
def uncached_timestamp(seconds: float = 0) -> str:
    return timestamp(seconds=seconds).set_caching_options(enable_caching=False).output


@pipeline("coin-condition")
def coin_condition(forced: str = "", text: str = "inside the condition") -> None:
    first = toss(forced=forced)
    show(message=first.output)
    with dsl.If(first.output == "heads"):
        second = toss()
        show(message=second.output)
        show(message=text)


@pipeline("nested-coin-conditions")
def nested_coin_conditions() -> None:
    first, second = toss(), toss()
    show(message=first.output)
    show(message=second.output)
    with dsl.If(first.output != "edge"):  # always true
        third = toss()
        show(message=third.output)
        with dsl.If(second.output == third.output):
            fourth = toss()
            show(message=fourth.output)


@pipeline("ordered")
def ordered(first_text: str = "first", second_text: str = "second") -> None:
    first = show(message=first_text)
    show(message=second_text).after(first)


@pipeline("exit-handler-sample")
def exit_handler_sample(message: str = "the body's first task") -> None:
    goodbye = show(message="the exit task ran")
    with dsl.ExitHandler(goodbye):
        show(message=message)
        fail_with_exit_code(message="the body fails", code=1)


@pipeline("loop-over-output")
def loop_over_output() -> None:
    texts = decimal_texts()
    with dsl.ParallelFor(texts.output) as text:
        show(message=text)


@pipeline("loop-of-dicts-with-parallelism")
def loop_of_dicts_with_parallelism() -> None:
    rows = [{"first_key": 1, "second_key": 2}, {"first_key": 10, "second_key": 20}]
    with dsl.ParallelFor(items=rows, parallelism=10) as row:
        show_number(number=row.first_key)
        show_number(number=row.second_key)


@pipeline("loop-over-output-dicts")
def loop_over_output_dicts(greeting: str = "before the loop") -> None:
    show(message=greeting)
    pairs = numbered_pairs()
    with dsl.ParallelFor(pairs.output) as pair:
        # a and b are numbers given to STRING inputs: the backend passes their JSON text.
        joined = join_texts(a=pair.a, b=pair.b)
        show(message=joined.output)


@pipeline("loop-over-json-texts")
def loop_over_json_texts(greeting: str = "before the loop") -> None:
    import json

    show(message=greeting)
    texts = [json.dumps({"a": "x", "b": "1"}), json.dumps({"a": "y", "b": "22"})]
    with dsl.ParallelFor(texts) as text:
        joined = join_texts(a=text.a, b=text.b)
        show(message=joined.output)


@pipeline("multiple-outputs")
def multiple_outputs(a: float = 2.0, b: float = 2.5, c: float = 3.0) -> None:
    first = product_and_sum(a=a, b=b)
    second = product_and_sum(a=b, b=c)
    product_and_sum(a=first.outputs["product"], b=second.outputs["sum"])


@pipeline("folder-artifact")
def folder_artifact(subdir: str = "parts") -> list:  # type: ignore[type-arg]
    written = write_folder(count=12, subdir=subdir)
    return list_folder(folder=written.outputs["folder"], subdir=subdir).output


@pipeline("resource-limits")
def resource_limits(n: int = 11234567) -> int:
    return allocate(n=n).set_cpu_limit("1").set_memory_limit("650M").output


@pipeline("runtime-resource-request")
def runtime_resource_request(n: int = 11234567) -> int:
    # The sample's own wish (a TODO there): the limits come from an upstream task's outputs.
    request = resource_request()
    task = allocate(n=n).set_memory_limit(request.outputs["memory"]).set_cpu_limit(request.outputs["cpu"])
    return task.set_cpu_request("200m").output


@pipeline("retried-exit-codes")
def retried_exit_codes(counter_dir: str) -> None:
    exit_codes_in_turn(counter_dir=counter_dir, name="first", codes="3,2,1,0").set_retry(10)
    exit_codes_in_turn(counter_dir=counter_dir, name="second", codes="1,0").set_retry(5)


@pipeline("claim-for-the-run")
def claim_for_the_run() -> None:
    claim = kubernetes.CreatePVC(pvc_name_suffix="-run-data", access_modes=["ReadWriteOnce"], size="1Gi")
    written = write_to_claim()
    read = read_from_claim().after(written)
    kubernetes.mount_pvc(written, pvc_name=claim.outputs["name"], mount_path="/claim")
    kubernetes.mount_pvc(read, pvc_name=claim.outputs["name"], mount_path="/mounted-again")
    kubernetes.DeletePVC(pvc_name=claim.outputs["name"]).after(read)


@pipeline("parallel-join")
def parallel_join(first: str, second: str) -> None:
    one, two = copy_file(source=first), copy_file(source=second)
    print_both(first=one.output, second=two.output)


@pipeline("sequential")
def sequential(source: str) -> None:
    print_one(text=copy_file(source=source).output)
