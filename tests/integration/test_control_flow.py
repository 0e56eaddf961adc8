"""Control-flow rules on small pipelines compiled here by the real kfp SDK, so the IR is genuine, run on
every local backend: conditions and OneOf, loops and their limits, fan-in, exit handlers, importers,
retries and caching. The pipelines are in kfp_pipelines.py."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from kfp import compiler
from kfp.dsl.graph_component import GraphComponent

from backends.base import Backend
from roots import kinds
from runner import run
from runner.api import RunResult, TaskResult, logs_dir, open_store
from runner.store import RunState, TaskRecord, TaskState
from tests.integration import kfp_pipelines as kp

OK, SKIPPED = TaskState.SUCCEEDED, TaskState.SKIPPED_CONDITION


def compiled(pipeline_func: GraphComponent, tmp_path: Path) -> Path:
    path = tmp_path / f"{pipeline_func.name}.yaml"
    compiler.Compiler().compile(pipeline_func, package_path=str(path))
    return path


def run_kfp(
    pipeline_func: GraphComponent,
    backend: Backend,
    tmp_path: Path,
    params: dict[str, Any] | None = None,
    parallelism: int = 4,
) -> RunResult:
    return run(
        compiled(pipeline_func, tmp_path),
        backend=backend,
        params=params or {},
        root=tmp_path / "root",
        parallelism=parallelism,
    )


def iteration(path: str) -> tuple[int, ...]:
    """The loop indices in a task path: "for-loop-2/1/for-loop-4/0/pair" -> (1, 0)."""
    return tuple(int(part) for part in path.split("/") if part.isdigit())


def by_iteration(result: RunResult, name: str) -> dict[tuple[int, ...], TaskResult]:
    return {iteration(t.path): t for t in result.tasks.values() if t.name == name}


def task_records(run_id: str, name: str) -> list[TaskRecord]:
    with open_store() as store:
        return [t for t in store.tasks(run_id) if t.name == name]


def most_at_once(records: Iterable[TaskRecord]) -> int:
    """The most tasks running at one instant, from their recorded start and finish times."""
    events = []
    for record in records:
        assert record.started_at is not None and record.finished_at is not None
        events += [(record.started_at, 1), (record.finished_at, -1)]
    running = peak = 0
    for _, change in sorted(events):  # a finish sorts before a start at the same instant
        running += change
        peak = max(peak, running)
    return peak


# -- conditions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "taken"),
    [(10, "big"), (3, "medium"), (1, "small")],
    ids=["if-10-above-9-as-a-number", "elif", "else"],
)
def test_only_the_taken_branch_runs_and_oneof_gives_its_output(
    backend: Backend, tmp_path: Path, n: int, taken: str
) -> None:
    result = run_kfp(kp.branches, backend, tmp_path, {"n": n})
    assert result.succeeded, result.error
    assert result.outputs == {"Output": taken}
    tasks = result.tasks
    assert tasks[kp.BRANCH_GROUP].state == OK
    for branch, dag in kp.BRANCH_DAGS.items():
        prefix = f"{kp.BRANCH_GROUP}/{dag}"
        inner = {
            path.removeprefix(f"{prefix}/"): t for path, t in tasks.items() if path.startswith(f"{prefix}/")
        }
        if branch == taken:
            assert tasks[prefix].state == OK
            assert set(inner) == kp.BRANCH_TASKS[branch] and all(t.state == OK for t in inner.values()), inner
        else:
            assert tasks[prefix].state == SKIPPED, branch
            assert inner == {}, f"tasks of the skipped branch {branch} exist"
    # The consumer of the OneOf runs after the group (or reuses the branch task's result: same component and
    # input, so a cache hit), and so does a task downstream only of `big`: kfp.local runs it too when `big`
    # was skipped, for kfp compiles that dependency as one on the whole branch group.
    assert tasks[kp.TAIL].state.ok and tasks[kp.TAIL].outputs == {"Output": taken}
    assert tasks[kp.AFTER_BIG].state == OK and tasks[kp.AFTER_BIG].outputs == {"Output": "after"}


# -- loops ------------------------------------------------------------------------------------------------


def test_parallel_for_over_raw_parameter_upstream_and_nested_lists(backend: Backend, tmp_path: Path) -> None:
    result = run_kfp(kp.loops, backend, tmp_path, {"letters": ["a", "b", "c"]})
    assert result.succeeded, result.error
    loops = [t for t in result.tasks.values() if t.name.startswith("for-loop-")]
    # Four loops, the inner one of the nested pair once per outer item.
    assert len(loops) == 4 + 2 and all(t.kind == "dag" and t.state == OK for t in loops)

    squares = by_iteration(result, "square")
    assert {i: t.outputs["Output"] for i, t in squares.items()} == {(0,): 1, (1,): 4, (2,): 9}
    assert all(re.fullmatch(rf"for-loop-\d+/{i[0]}/square", t.path) for i, t in squares.items())

    written = by_iteration(result, "write-text")
    assert set(written) == {(0,), (1,), (2,)}
    uris = set()
    for (index,), task in written.items():
        art = task.artifacts["out"]
        assert f"/{index}/write-text/" in art.uri, art.uri
        assert art.path.read_text() == "abc"[index], f"iteration {index} has another's artifact"
        uris.add(art.uri)
    assert len(uris) == 3

    # Sub-fields of an upstream list of dicts (one level), and an outer x inner product (two levels).
    pairs = {
        i: t.outputs["Output"] for name in ("pair", "pair-2") for i, t in by_iteration(result, name).items()
    }
    assert pairs == {
        (0,): "p1",
        (1,): "q2",
        (2,): "r3",
        (0, 0): "x1",
        (0, 1): "x2",
        (1, 0): "y1",
        (1, 1): "y2",
    }


def test_parallelism_bounds_the_running_iterations(backend: Backend, tmp_path: Path) -> None:
    result = run_kfp(kp.limited, backend, tmp_path, parallelism=6)
    assert result.succeeded, result.error
    records = task_records(result.run_id, "sleep-one")
    assert sorted(iteration(r.path) for r in records) == [(i,) for i in range(6)]
    assert all(r.state == OK for r in records)
    # Never more than the loop's limit although the run allows 6, and the limit is used (not one at a time).
    assert most_at_once(records) == 2


def test_collected_parameters_and_artifacts_arrive_in_item_order(backend: Backend, tmp_path: Path) -> None:
    sync_dir = tmp_path / "root" / "sync"
    sync_dir.mkdir(parents=True)
    # The three writers wait on each other, so they must all run at once.
    in_task = f"{kinds.view(backend, str(sync_dir.parent.resolve())).path}/sync"
    result = run_kfp(kp.fan_in, backend, tmp_path, {"sync_dir": in_task}, parallelism=6)
    assert result.succeeded, result.error
    # sum_ints itself fails unless every collected value is an int.
    assert result.outputs == {"total": 14, "joined": "1,2,3"}
    assert type(result.outputs["total"]) is int
    with open_store() as store:
        consumer = store.task(result.run_id, "sum-ints")
    assert consumer is not None and consumer.inputs["xs"] == [1, 4, 9]
    writers = {
        iteration(r.path): r.finished_at or 0 for r in task_records(result.run_id, "write-number-in-reverse")
    }
    assert writers[(0,)] > writers[(1,)] > writers[(2,)], (
        "the items finished in item order, so the order check proves nothing"
    )


# -- exit handlers and ignore_upstream_failure ------------------------------------------------------------


def final_status(task: TaskResult) -> tuple[str, str, str, str]:
    state, task_name, code, message = task.outputs["Output"].split("|", 3)
    return state, task_name, code, message


def test_exit_tasks_run_after_a_failed_body_and_see_its_status(backend: Backend, tmp_path: Path) -> None:
    result = run_kfp(kp.exit_handlers, backend, tmp_path, {"fail_body": True})
    assert result.state == RunState.FAILED
    body = result.tasks[f"{kp.FIRST_HANDLER}/maybe-fail"]
    assert body.state == TaskState.FAILED and "the body failed on purpose" in body.error
    assert result.tasks[kp.FIRST_HANDLER].state == TaskState.FAILED
    exit_task = result.tasks[kp.FIRST_EXIT]
    assert exit_task.state == OK
    state, task_name, code, message = final_status(exit_task)
    assert (state, task_name) == ("FAILED", kp.FIRST_HANDLER) and code not in ("0", "None")
    assert "maybe-fail" in message, message
    with open_store() as store:
        body_record = store.task(result.run_id, body.path)
        exit_record = store.task(result.run_id, kp.FIRST_EXIT)
    assert body_record is not None and exit_record is not None
    assert body_record.finished_at is not None and exit_record.started_at is not None
    assert exit_record.started_at >= body_record.finished_at
    # The second handler's body succeeded, in the same run.
    assert final_status(result.tasks[kp.SECOND_EXIT])[:2] == ("COMPLETE", kp.SECOND_HANDLER)


def test_exit_tasks_after_a_succeeding_body(backend: Backend, tmp_path: Path) -> None:
    result = run_kfp(kp.exit_handlers, backend, tmp_path, {"fail_body": False})
    assert result.succeeded, result.error
    # "COMPLETE" is what the KFP backend reports for a succeeded task, and flow follows it;
    # kfp.local reports "SUCCEEDED" instead.
    for exit_task, handler in ((kp.FIRST_EXIT, kp.FIRST_HANDLER), (kp.SECOND_EXIT, kp.SECOND_HANDLER)):
        assert result.tasks[exit_task].state == OK
        state, task_name, code, message = final_status(result.tasks[exit_task])
        assert (state, task_name, message) == ("COMPLETE", handler, ""), result.tasks[exit_task].outputs
        assert code in ("0", "None")


def test_ignore_upstream_failure_runs_with_the_input_default(backend: Backend, tmp_path: Path) -> None:
    result = run_kfp(kp.ignore_failure, backend, tmp_path)
    assert result.state == RunState.FAILED
    assert result.tasks["maybe-fail"].state == TaskState.FAILED
    consumer = result.tasks["echo-or-default"]
    assert consumer.state == OK and consumer.outputs == {"Output": "fallback"}
    assert result.outputs == {"Output": "fallback"}


# -- importer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["under-root", "outside-root"])
def test_importer_brings_a_local_file_in(backend: Backend, tmp_path: Path, where: str) -> None:
    root = tmp_path / "root"
    source = (root / "inputs" if where == "under-root" else tmp_path / "elsewhere") / "data.txt"
    source.parent.mkdir(parents=True)
    source.write_text("imported text")
    result = run_kfp(kp.importing, backend, tmp_path, {"uri": str(source)})
    assert result.succeeded, result.error
    importer = result.tasks["importer"]
    assert importer.kind == "importer" and importer.state == OK
    art = importer.artifacts["artifact"]
    if where == "under-root":
        assert art.uri == "inputs/data.txt"  # recorded relative to the root, as every artifact in it
    else:
        assert art.uri == str(source) and art.path == source  # as given, read in place: no copy
        assert not (root / result.run_id / ".imports").exists()
    assert art.path.read_text() == "imported text"
    assert art.metadata == {"source": "test-data"}
    assert result.tasks["read-text"].outputs == {"Output": "imported text|test-data"}
    assert result.outputs == {"Output": "imported text|test-data"}


def test_reimport_false_reuses_the_artifact_an_earlier_run_imported(tmp_path: Path) -> None:
    """KFP's importer with reimport=False (kfp's default) finds the artifact an earlier run of the pipeline
    imported from the URI, with the same type and metadata, and outputs it again: the same artifact, so a
    consumer's cache key, which is made of its inputs' artifacts, is the same too. Engine logic: the process
    backend shows it."""
    data = tmp_path / "data.txt"
    data.write_text("v1")

    def imports(reimport: bool, source: str = "test-data") -> RunResult:
        params = {"uri": str(data), "source": source}
        return run(compiled(kp.reimporting(reimport), tmp_path), backend="process", params=params)

    first = imports(reimport=False)
    assert first.tasks["read-text"].outputs == {"Output": "v1|test-data"}
    assert task_records(first.run_id, "importer")[0].reason == ""
    data.write_text("v2")

    again = imports(reimport=False)
    assert task_records(again.run_id, "importer")[0].reason == (
        f"reused the artifact of run {first.run_id} task importer"
    )
    reused = again.tasks["importer"].artifacts["artifact"]
    assert reused.uri == str(data) and reused.digest == first.tasks["importer"].artifacts["artifact"].digest
    assert again.tasks["read-text"].state == TaskState.CACHED
    assert again.tasks["read-text"].outputs == {"Output": "v1|test-data"}

    other_metadata = imports(reimport=False, source="elsewhere")  # no earlier import has this metadata
    assert task_records(other_metadata.run_id, "importer")[0].reason == ""
    assert other_metadata.tasks["read-text"].outputs == {"Output": "v2|elsewhere"}

    reimported = imports(reimport=True)  # a new artifact: its content digested again
    assert task_records(reimported.run_id, "importer")[0].reason == ""
    assert reimported.tasks["read-text"].state == OK
    assert reimported.tasks["read-text"].outputs == {"Output": "v2|test-data"}


# -- retries ----------------------------------------------------------------------------------------------


def test_retries_with_backoff_keep_each_attempts_log(backend: Backend, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "counters").mkdir(parents=True)
    # The counters live under the root, at the path the tasks see (/flow in containers).
    counter_dir = f"{kinds.view(backend, str(root.resolve())).path}/counters"
    result = run_kfp(kp.retrying, backend, tmp_path, {"counter_dir": counter_dir})
    assert result.state == RunState.FAILED  # gives-up fails for good

    recovers = result.tasks["flaky"]
    assert recovers.state == OK and recovers.attempts == 3 and recovers.outputs == {"Output": 3}
    assert (root / "counters" / "recovers").read_text() == "3"
    last = Path(recovers.log_path)
    logs = [last.with_name(f"attempt-{n}.log") for n in (1, 2, 3)]
    assert last == logs[2]
    assert "recovers: attempt 1 fails on purpose" in logs[0].read_text()
    assert "recovers: attempt 2 fails on purpose" in logs[1].read_text()
    assert "recovers: attempt 3 succeeds" in logs[2].read_text()
    # Backoff 1 s, then 1 s x 2: each attempt's log is last written at least that long after the one before
    # (less a margin for the log copy of a finished container).
    mtimes = [log.stat().st_mtime for log in logs]
    assert mtimes[1] - mtimes[0] >= 0.8 and mtimes[2] - mtimes[1] >= 1.8, mtimes

    gives_up = result.tasks["flaky-2"]
    assert gives_up.state == TaskState.FAILED and gives_up.attempts == 2
    assert (root / "counters" / "gives-up").read_text() == "2"
    assert "gives-up: attempt 2 fails on purpose" in gives_up.error
    assert last.parent.parent.joinpath("flaky-2", "attempt-2.log").exists()
    assert not last.parent.parent.joinpath("flaky-2", "attempt-3.log").exists()


# -- caching ----------------------------------------------------------------------------------------------


def test_cache_hits_then_misses_when_an_imported_file_changes(backend: Backend, tmp_path: Path) -> None:
    data = tmp_path / "root" / "inputs" / "data.txt"
    data.parent.mkdir(parents=True)
    data.write_text("one")
    # reimport=True: each run imports the file anew (with False the earlier import is reused, see above).
    path = compiled(kp.reimporting(reimport=True), tmp_path)

    def again() -> RunResult:
        params = {"uri": str(data), "source": "test-data"}
        result = run(path, backend=backend, params=params, root=tmp_path / "root")
        assert result.succeeded, result.error
        return result

    first = again()
    started = time.time()
    second = again()
    data.write_text("two")  # same path, new content
    third = again()

    assert first.tasks["read-text"].state == OK and first.tasks["read-text"].attempts == 1
    hit = second.tasks["read-text"]
    assert hit.state == TaskState.CACHED and hit.attempts == 0
    assert hit.outputs == {"Output": "one|test-data"} and second.outputs == first.outputs
    assert not (logs_dir() / second.run_id / "read-text").exists(), "the cached task ran"
    with open_store() as store:
        record = store.task(second.run_id, "read-text")
    assert record is not None and record.started_at is not None and record.started_at >= started

    miss = third.tasks["read-text"]
    assert miss.state == OK and miss.attempts == 1
    assert third.outputs == {"Output": "two|test-data"}

    for result in (first, second, third):  # set_caching_options(False): runs every time
        uncached = result.tasks["say"]
        assert uncached.state == OK and uncached.attempts == 1, result.run_id
        assert Path(uncached.log_path).is_file()
