"""`runner.rerun` on the FakeBackend: which task runs again, with which inputs, in which root; errors."""

# mypy: disable-error-code="no-untyped-def,no-any-return"

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runner
from backends.base import TaskSpec
from backends.fake import FakeBackend, Outcome, executor_input
from runner import Dataset, Input, Output, ParallelFor, compile_to_text, component, kubernetes, pipeline
from runner.errors import UsageError
from runner.store import RunState, SQLiteStore, Store, TaskState


@component
def make(n: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write(str(n))


@component
def use(data: Input[Dataset], scale: float, label: str = "x") -> float:
    with open(data.path) as handle:
        return float(handle.read()) * scale


@component
def shout(word: str) -> str:
    return word.upper()


@pipeline(name="chain")
def chain(n: int = 3) -> float:
    made = make(n=n)
    used = use(data=made.outputs["data"], scale=2.5)
    return used.output


@pipeline(name="inner")
def inner(word: str) -> None:
    shout(word=word)


@pipeline(name="loops")
def loops(secret: str = "db-creds") -> None:
    with ParallelFor(["a", "b", "c"]) as item:
        task = shout(word=item)
        kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={"password": "PASSWORD"})
        inner(word=item)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with SQLiteStore(tmp_path / "db") as opened:
        yield opened


# What each component's fake task writes when a test scripts nothing else for it.
SUCCESSES = {
    "make": Outcome(artifacts={"data": b"3"}),
    "use": Outcome(parameters={"Output": 7.5}),
    "shout": Outcome(parameters={"Output": "LOUD"}),
}


def outcomes(table: dict[str, Outcome] | None = None) -> FakeBackend:
    """A fake backend: tasks by path as `table` says, else succeeding as their component would."""
    scripted = table or {}

    def outcome(spec: TaskSpec) -> Outcome:
        return scripted.get(spec.task_path) or SUCCESSES[spec.task_path.rsplit("/", 1)[-1]]

    return FakeBackend(outcome)


def run_chain(store: Store, root: Path, use_outcome: Outcome | None = None) -> runner.RunResult:
    table = {"use": use_outcome} if use_outcome is not None else {}
    return runner.run(
        compile_to_text(chain), backend=outcomes(table), root=root, store=store, params={"n": 3}
    )


def only_spec(backend: FakeBackend) -> TaskSpec:
    (spec,) = backend.submitted
    return spec


def test_a_rerun_runs_the_one_task_with_its_recorded_inputs(store: Store, tmp_path: Path) -> None:
    original = run_chain(store, tmp_path / "root")
    assert original.succeeded
    backend = outcomes()

    again = runner.rerun(original.run_id, "use", backend=backend, store=store)

    assert again.succeeded and again.run_id != original.run_id
    assert list(again.tasks) == ["use"]
    inputs = executor_input(only_spec(backend))["inputs"]
    assert inputs["parameterValues"] == {"scale": 2.5, "label": "x"}
    (data,) = inputs["artifacts"]["data"]["artifacts"]
    assert data["uri"] == f"{tmp_path / 'root'}/{original.run_id}/make/data"  # the very file it read
    assert again.outputs == {"Output": 7.5}
    assert again.tasks["use"].component_digest == original.tasks["use"].component_digest
    record = store.run(again.run_id)
    assert (record.rerun_of, record.rerun_task, record.root) == (original.run_id, "use", original.root)
    rerun_task = store.task(again.run_id, "use")
    assert rerun_task is not None and rerun_task.cache_key == ""  # caching is off


def test_a_failed_task_fails_again(store: Store, tmp_path: Path) -> None:
    original = run_chain(store, tmp_path / "root", Outcome(exit_code=3))
    assert original.state == RunState.FAILED

    again = runner.rerun(original.run_id, "use", backend=outcomes({"use": Outcome(exit_code=3)}), store=store)

    assert again.state == RunState.FAILED
    assert "exited with code 3" in again.tasks["use"].error


def test_another_root_gets_a_copy_of_the_input_artifacts_at_the_same_uri(
    store: Store, tmp_path: Path
) -> None:
    original = run_chain(store, tmp_path / "root")
    elsewhere = tmp_path / "elsewhere"

    again = runner.rerun(original.run_id, "use", backend=outcomes(), root=elsewhere, store=store)

    assert again.succeeded and again.root == str(elsewhere)
    assert (elsewhere / original.run_id / "make" / "data").read_text() == "3"


def test_a_loop_iteration_keeps_its_item_and_its_secret_named_by_a_pipeline_parameter(
    store: Store, tmp_path: Path
) -> None:
    original = runner.run(compile_to_text(loops), backend=outcomes(), root=tmp_path / "root", store=store)
    paths = [t for t in original.tasks if t.endswith("/shout")]
    second = next(p for p in paths if "/1/" in p and "inner" not in p)
    backend = outcomes()

    again = runner.rerun(original.run_id, second, backend=backend, store=store)

    assert again.succeeded
    spec = only_spec(backend)
    assert executor_input(spec)["inputs"]["parameterValues"] == {"word": "b"}
    assert [entry["secretName"] for entry in spec.kubernetes["secretAsEnv"]] == ["db-creds"]
    nested = next(p for p in paths if "/2/" in p and "inner" in p)
    backend = outcomes()
    assert runner.rerun(original.run_id, nested, backend=backend, store=store).succeeded
    assert executor_input(only_spec(backend))["inputs"]["parameterValues"] == {"word": "c"}


def test_resuming_a_failed_rerun_gives_its_task_the_same_input_artifacts(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = run_chain(store, tmp_path / "root")
    failed = runner.rerun(
        original.run_id, "use", backend=outcomes({"use": Outcome(exit_code=1)}), store=store
    )
    assert failed.state == RunState.FAILED
    backend = outcomes()
    monkeypatch.setattr("runner.selection._create", lambda name, options: backend)  # resume's "fake"

    resumed = runner.api.resume(failed.run_id, store=store)

    assert resumed.succeeded, resumed.tasks["use"].error
    (data,) = executor_input(only_spec(backend))["inputs"]["artifacts"]["data"]["artifacts"]
    assert data["uri"].endswith(f"/{original.run_id}/make/data")


def errors_of(store: Store, run_id: str, task: str, **options: Any) -> str:
    runs_before = len(store.runs())
    with pytest.raises(UsageError) as caught:
        runner.rerun(run_id, task, backend=outcomes(), store=store, **options)
    assert caught.value.exit_code == 2
    assert len(store.runs()) == runs_before  # nothing was recorded, nothing ran
    return str(caught.value)


def test_bad_targets_are_one_line_errors_and_nothing_runs(store: Store, tmp_path: Path) -> None:
    failed = run_chain(store, tmp_path / "root", Outcome(exit_code=1))
    looped = runner.run(compile_to_text(loops), backend=outcomes(), root=tmp_path / "root", store=store)

    assert "no run 'ffffffff'" in errors_of(store, "ffffffff", "use")
    assert errors_of(store, failed.run_id, "nope").endswith(
        f"has no task 'nope' (flow show {failed.run_id} lists its tasks)"
    )
    assert errors_of(store, failed.run_id, "uses").endswith("lists its tasks); did you mean 'use'?")
    assert "is a DAG" in errors_of(
        store, looped.run_id, next(p for p in looped.tasks if p.endswith("/inner"))
    )
    assert "is a DAG" in errors_of(store, looped.run_id, "for-loop-2")
    assert "ambiguous" in errors_of(store, looped.run_id, "shout")

    upstream_failed = runner.run(
        compile_to_text(chain),
        backend=outcomes({"make": Outcome(exit_code=1)}),
        root=tmp_path / "root",
        store=store,
        cache=False,
    )
    assert upstream_failed.tasks["use"].state == TaskState.SKIPPED_UPSTREAM_FAILED
    assert "never ran (SKIPPED_UPSTREAM_FAILED)" in errors_of(store, upstream_failed.run_id, "use")


def test_an_input_artifact_missing_from_the_root_is_an_error(store: Store, tmp_path: Path) -> None:
    original = run_chain(store, tmp_path / "root")
    (tmp_path / "root" / original.run_id / "make" / "data").unlink()

    message = errors_of(store, original.run_id, "use")
    assert f"input artifact {original.run_id}/make/data is missing" in message
    message = errors_of(store, original.run_id, "use", root=tmp_path / "elsewhere")
    assert f"input artifact {original.run_id}/make/data is missing" in message


def test_a_cached_task_reruns_and_a_changed_input_is_reported(store: Store, tmp_path: Path) -> None:
    run_chain(store, tmp_path / "root")
    second = run_chain(store, tmp_path / "root")
    assert second.tasks["use"].state == TaskState.CACHED  # its inputs were recorded all the same
    (artifact,) = [a for a in second.tasks["make"].artifacts.values()]
    artifact.path.write_text("changed")
    notices: list[str] = []

    again = runner.rerun(second.run_id, "use", backend=outcomes(), store=store, notify=notices.append)

    assert again.succeeded
    assert notices == [
        f"input artifact {artifact.uri} changed since the run recorded it (its sha256 differs)"
    ]
