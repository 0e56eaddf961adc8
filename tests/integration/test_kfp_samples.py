"""The runnable samples of kubeflow/pipelines samples/core, ported: each pipeline of kfp_samples.py does what
its sample does, is compiled here by the real kfp and must give what the Kubeflow Pipelines backend gives.

Every test runs on the process backend; those about containers (exit codes, files and folders between
containers, enforced resource limits, container components) run on docker too.

Samples not here, and why (the tests cannot have what they need):
- parallel_join, sequential: read gs:// files with gsutil in the google/cloud-sdk image (GCP, internet).
  Their shape (downloads in parallel or in sequence, then a join) is kept with a file of the run's root.
- secret: lists GCS buckets with GCP credentials and google-cloud-storage on python:3.7 (GCP, internet).
- train_until_good: loads its components from URLs and queries BigQuery (internet, GCP); it also recurses
  through kfp v1's `graph_component`, which kfp 2 no longer has.
- recursion: kfp v1 only (`dsl.ContainerOp`, `graph_component`); kfp 2 cannot compile it.
- resource_spec/runtime_resource_request_gpu: needs a GPU and the pytorch CUDA image.
- kubernetes_pvc: kfp-kubernetes' CreatePVC/DeletePVC compile to stub images (argostub/createpvc) that the
  KFP backend's driver carries out itself (backend/src/v2/driver/k8s.go); flow does not (README: known
  differences). test_a_claim_made_by_the_pipeline_is_refused checks that it says so.
- tfx-oss: TFX on GCP (internet). kfp_env_validation.ipynb checks a Kubeflow installation through its API.
- caching.ipynb is caching_sample.py in a notebook; multiple_outputs.ipynb's pipeline is here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kfp import compiler
from kfp.dsl.graph_component import GraphComponent

from backends.base import Backend
from roots import kinds
from runner import run
from runner.api import RunResult, open_store
from runner.store import RunState, TaskState
from tests.conftest import make_backend
from tests.integration import kfp_samples as ks

OK, FAILED, SKIPPED = TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED_CONDITION


@pytest.fixture
def process() -> Backend:
    return make_backend("process")


def run_kfp(
    pipeline_func: GraphComponent, backend: Backend, tmp_path: Path, params: dict[str, Any] | None = None
) -> RunResult:
    path = tmp_path / f"{pipeline_func.name}.yaml"
    if not path.exists():
        compiler.Compiler().compile(pipeline_func, package_path=str(path))
    return run(path, backend=backend, params=params or {}, root=tmp_path / "root")


def shared_dir(backend: Backend, tmp_path: Path) -> tuple[Path, str]:
    """A folder under the run's root, and the path at which the tasks see it."""
    host = tmp_path / "root" / "shared"
    host.mkdir(parents=True, exist_ok=True)
    return host, f"{kinds.view(backend, str(host.parent.resolve())).path}/shared"


def output(result: RunResult, path: str) -> Any:
    return result.tasks[path].outputs["Output"]


def test_caching(process: Backend, tmp_path: Path) -> None:
    """caching/caching_sample.py: a second identical run reuses the first's output; a task with caching
    off runs again. The worker's time is an argument, given as 0 here."""
    cached = [run_kfp(ks.cached_timestamp, process, tmp_path) for _ in range(2)]
    assert [r.tasks["timestamp"].state for r in cached] == [OK, TaskState.CACHED]
    assert cached[0].outputs == cached[1].outputs
    uncached = [run_kfp(ks.uncached_timestamp, process, tmp_path) for _ in range(2)]
    assert [r.tasks["timestamp"].state for r in uncached] == [OK, OK]
    assert uncached[0].outputs != uncached[1].outputs


def test_condition_taken(process: Backend, tmp_path: Path) -> None:
    """condition/condition_v2.py with the first coin forced to heads: the condition's three tasks run."""
    result = run_kfp(ks.coin_condition, process, tmp_path, {"forced": "heads"})
    assert result.succeeded, result.error
    assert output(result, "toss") == output(result, "show") == "heads"
    assert result.tasks["condition-1"].state == OK
    inside = {p.removeprefix("condition-1/") for p in result.tasks if p.startswith("condition-1/")}
    assert inside == {"toss-2", "show-2", "show-3"}
    assert output(result, "condition-1/show-2") == output(result, "condition-1/toss-2")
    assert output(result, "condition-1/show-3") == "inside the condition"


def test_condition_not_taken(process: Backend, tmp_path: Path) -> None:
    """condition/condition_v2.py with tails: the condition is skipped and its tasks never exist (the
    backend records the condition's DAG as not triggered, with no children)."""
    result = run_kfp(ks.coin_condition, process, tmp_path, {"forced": "tails"})
    assert result.succeeded, result.error
    assert {p: t.state for p, t in result.tasks.items()} == {"toss": OK, "show": OK, "condition-1": SKIPPED}


def test_nested_conditions(process: Backend, tmp_path: Path) -> None:
    """condition/nested_condition.py: random coins; the outer condition always holds, the inner one holds
    exactly when the second and third coins agree."""
    result = run_kfp(ks.nested_coin_conditions, process, tmp_path)
    assert result.succeeded, result.error
    assert result.tasks["condition-1"].state == OK
    agree = output(result, "toss-2") == output(result, "condition-1/toss-3")
    inner = result.tasks["condition-1/condition-2"]
    assert inner.state == (OK if agree else SKIPPED)
    if agree:
        fourth = output(result, "condition-1/condition-2/toss-4")
        assert output(result, "condition-1/condition-2/show-4") == fourth
    else:
        assert not any(p.startswith("condition-1/condition-2/") for p in result.tasks)


def test_execution_order(process: Backend, tmp_path: Path) -> None:
    """execution_order/execution_order.py: `.after()` orders two tasks that share no data."""
    result = run_kfp(ks.ordered, process, tmp_path)
    assert result.succeeded, result.error
    with open_store() as store:
        first, second = store.task(result.run_id, "show"), store.task(result.run_id, "show-2")
    assert first is not None and second is not None
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at


def test_exit_handler(backend: Backend, tmp_path: Path) -> None:
    """exit_handler/exit_handler.py: the body's second task exits with 1; the exit task still runs, and
    the run fails (the sample's own test expects a success, but checks tasks of an older version of it:
    on the backend the exit task is an Argo exit hook, which leaves the failed DAG failed)."""
    result = run_kfp(ks.exit_handler_sample, backend, tmp_path)
    assert result.state == RunState.FAILED
    assert output(result, "show") == "the exit task ran"
    assert output(result, "exit-handler-1/show-2") == "the body's first task"
    failed = result.tasks["exit-handler-1/fail-with-exit-code"]
    assert failed.state == FAILED and failed.error.startswith("exited with code 1")
    assert "the body fails" in failed.log()


def test_loop_over_an_upstream_output(process: Backend, tmp_path: Path) -> None:
    """loop_output/loop_output.py: the items of an upstream list reach a STRING input as they are."""
    result = run_kfp(ks.loop_over_output, process, tmp_path)
    assert result.succeeded, result.error
    assert [output(result, f"for-loop-1/{i}/show") for i in range(3)] == ["0.5", "1.5", "2.5"]


def test_loop_parallelism_over_dicts(process: Backend, tmp_path: Path) -> None:
    """loop_parallelism/loop_parallelism.py: fields of raw dict items (keys with underscores) as INTs."""
    result = run_kfp(ks.loop_of_dicts_with_parallelism, process, tmp_path)
    assert result.succeeded, result.error
    numbers = {
        (i, name): output(result, f"for-loop-2/{i}/{name}")
        for i in range(2)
        for name in ("show-number", "show-number-2")
    }
    assert numbers == {
        (0, "show-number"): 1,
        (0, "show-number-2"): 2,
        (1, "show-number"): 10,
        (1, "show-number-2"): 20,
    }
    assert all(type(n) is int for n in numbers.values())


def test_loop_over_upstream_dicts_gives_numbers_to_string_inputs(process: Backend, tmp_path: Path) -> None:
    """loop_parameter/loop_parameter.py: the items' fields are numbers and the inputs STRING; the backend's
    driver turns each into its JSON text."""
    result = run_kfp(ks.loop_over_output_dicts, process, tmp_path)
    assert result.succeeded, result.error
    joined = [output(result, f"for-loop-1/{i}/join-texts") for i in range(3)]
    assert joined == ["1100", "2200", "3300"]
    assert [output(result, f"for-loop-1/{i}/show-2") for i in range(3)] == joined


def test_loop_over_json_texts_selects_their_fields(process: Backend, tmp_path: Path) -> None:
    """loop_static/loop_static.py: the raw items are JSON texts; `item.a` selects a field of the object
    each one holds, as the backend's parameter expression selector does."""
    result = run_kfp(ks.loop_over_json_texts, process, tmp_path)
    assert result.succeeded, result.error
    assert [output(result, f"for-loop-2/{i}/join-texts") for i in range(2)] == ["x1", "y22"]


def test_multiple_outputs(process: Backend, tmp_path: Path) -> None:
    """multiple_outputs/multiple_outputs.ipynb: named float outputs wired into a third task."""
    result = run_kfp(ks.multiple_outputs, process, tmp_path)
    assert result.succeeded, result.error
    outputs = [
        result.tasks[name].outputs for name in ("product-and-sum", "product-and-sum-2", "product-and-sum-3")
    ]
    assert outputs == [
        {"product": 5.0, "sum": 4.5},
        {"product": 7.5, "sum": 5.5},
        {"product": 27.5, "sum": 10.5},
    ]


def test_a_folder_as_an_artifact(backend: Backend, tmp_path: Path) -> None:
    """output_a_directory/output_a_directory.py: an output artifact that is a folder of files."""
    result = run_kfp(ks.folder_artifact, backend, tmp_path)
    assert result.succeeded, result.error
    names = sorted(f"part-{n}.txt" for n in range(12))
    assert result.outputs == {"Output": names}
    folder = result.tasks["write-folder"].artifacts["folder"].path / "parts"
    assert sorted(p.name for p in folder.iterdir()) == names
    assert (folder / "part-11.txt").read_text() == "11"


def test_resource_limits(backend: Backend, tmp_path: Path) -> None:
    """resource_spec/resource_spec.py: a task holding about 400 MiB under a 650M memory limit."""
    result = run_kfp(ks.resource_limits, backend, tmp_path)
    assert result.succeeded, result.error
    assert result.outputs == {"Output": 11234567}


def test_resource_limits_from_upstream_outputs(backend: Backend, tmp_path: Path) -> None:
    """resource_spec/runtime_resource_request.py, as its TODO wishes: the memory and CPU limits are an
    upstream task's outputs, resolved when the task starts."""
    result = run_kfp(ks.runtime_resource_request, backend, tmp_path)
    assert result.succeeded, result.error
    assert result.tasks["resource-request"].outputs == {"memory": "500Mi", "cpu": "200m"}
    assert result.outputs == {"Output": 11234567}


def test_retries_on_any_exit_code(process: Backend, tmp_path: Path) -> None:
    """retry/retry.py, without its randomness: each attempt exits with the next code of a list."""
    counters, in_task = shared_dir(process, tmp_path)
    result = run_kfp(ks.retried_exit_codes, process, tmp_path, {"counter_dir": in_task})
    assert result.succeeded, result.error
    assert result.tasks["exit-codes-in-turn"].attempts == 4 and (counters / "first").read_text() == "4"
    assert result.tasks["exit-codes-in-turn-2"].attempts == 2 and (counters / "second").read_text() == "2"


def test_parallel_downloads_then_a_join(backend: Backend, tmp_path: Path) -> None:
    """parallel_join/parallel_join.py, from files of the run's root instead of gs://."""
    files, in_task = shared_dir(backend, tmp_path)
    (files / "one.txt").write_text("the first text")
    (files / "two.txt").write_text("the second text")
    params = {"first": f"{in_task}/one.txt", "second": f"{in_task}/two.txt"}
    result = run_kfp(ks.parallel_join, backend, tmp_path, params)
    assert result.succeeded, result.error
    assert result.tasks["copy-file"].outputs == {"copied": "the first text"}
    assert result.tasks["copy-file-2"].outputs == {"copied": "the second text"}
    log = result.tasks["print-both"].log()
    assert "first: the first text" in log and "second: the second text" in log


def test_sequential_steps(backend: Backend, tmp_path: Path) -> None:
    """sequential/sequential.py, from a file of the run's root instead of gs://."""
    files, in_task = shared_dir(backend, tmp_path)
    (files / "text.txt").write_text("passed along")
    result = run_kfp(ks.sequential, backend, tmp_path, {"source": f"{in_task}/text.txt"})
    assert result.succeeded, result.error
    assert result.tasks["copy-file"].outputs == {"copied": "passed along"}
    assert "passed along" in result.tasks["print-one"].log()


def test_a_claim_made_by_the_pipeline_is_refused(process: Backend, tmp_path: Path) -> None:
    """kubernetes/kubernetes_pvc.py: flow does not make claims as the backend's driver does (README: known
    differences), and says so in one line instead of starting the stub image."""
    result = run_kfp(ks.claim_for_the_run, process, tmp_path)
    assert result.state == RunState.FAILED
    create = result.tasks["createpvc"]
    assert create.state == FAILED and create.attempts == 0
    assert create.error == (
        "kfp-kubernetes CreatePVC is done by Kubeflow's own driver, not by a container, and flow does not do "
        "it: mount an existing claim with mount_pvc"
    )
    skipped = {p for p, t in result.tasks.items() if t.state == TaskState.SKIPPED_UPSTREAM_FAILED}
    assert skipped == {"write-to-claim", "read-from-claim", "deletepvc"}
