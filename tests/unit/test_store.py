"""runner.store.Store: records survive a roundtrip; runs are found by id, unique prefix or "latest"; run ids
are unique. On SQLite here; the same cases run on PostgreSQL in
tests/integration/test_store_on_postgres.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.errors import RunNotFoundError
from runner.store import ArtifactRecord, RunRecord, RunState, Store, TaskRecord, TaskState, open_url
from runner.store import base as store_base
from runner.store.columns import TASK_CHANGEABLE


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    db = open_url(store_url)
    yield db
    db.close()


def make_run(run_id: str, created_at: float = 0.0) -> RunRecord:
    return RunRecord(
        run_id=run_id, pipeline="p", pipeline_file="p.yaml", backend="fake", root="/r", created_at=created_at
    )


def make_task(path: str, state: TaskState = TaskState.PENDING) -> TaskRecord:
    return TaskRecord(
        run_id="r1",
        path=path,
        name=path.rsplit("/", 1)[-1],
        component="comp-x",
        kind="container",
        state=state,
    )


def test_run_roundtrip(store: Store) -> None:
    run = make_run("r1")
    run.state, run.params = RunState.SUCCEEDED, {"n": 2, "xs": [1, {"a": None}], "s": "x"}
    run.outputs = {"parameters": {"out": 1.5}, "artifacts": {"m": ["r1/t/m"]}}
    run.started_at, run.finished_at, run.error, run.spec_text = 10.0, 12.5, "boom", "root: {}\n"
    store.save_run(run)
    assert run.created_at > 0  # filled in on first save
    loaded = store.run("r1")
    assert loaded == run
    assert loaded.state is RunState.SUCCEEDED
    assert loaded.duration == 2.5
    reopened = store.open_another()  # committed, visible to another connection
    try:
        assert reopened.run("r1") == run
    finally:
        reopened.close()


def test_save_run_updates_in_place(store: Store) -> None:
    run = make_run("r1", created_at=5.0)
    store.save_run(run)
    run.state, run.error = RunState.FAILED, "task 'a' failed"
    store.save_run(run)
    assert [r.run_id for r in store.runs()] == ["r1"]
    assert store.run("r1").state is RunState.FAILED
    assert store.run("r1").error == "task 'a' failed"
    assert store.run("r1").created_at == 5.0


def test_task_roundtrip(store: Store) -> None:
    task = make_task("outer/inner", TaskState.FAILED)
    task.parent, task.attempts, task.exit_code, task.reason = "outer", 2, 137, "OOMKilled"
    task.inputs, task.outputs = {"x": [1, 2]}, {"y": {"k": True}}
    task.started_at, task.finished_at, task.error = 1.0, 4.0, "out of memory"
    store.save_tasks([task])
    assert store.tasks("r1") == [task]
    assert store.task("r1", "outer/inner") == task
    assert store.task("r1", "nope") is None
    assert store.tasks("other-run") == []


def test_task_listing_keeps_insertion_order_after_updates(store: Store) -> None:
    tasks = [make_task(p) for p in ("c", "a", "b")]
    store.save_tasks(tasks)
    tasks[0].state = TaskState.SUCCEEDED
    store.save_tasks([tasks[0]])
    tasks[1].state, tasks[1].attempts = TaskState.RUNNING, 1
    store.save_tasks([tasks[2], tasks[1]])
    listed = store.tasks("r1")
    assert [t.path for t in listed] == ["c", "a", "b"]
    assert [t.state for t in listed] == [TaskState.SUCCEEDED, TaskState.RUNNING, TaskState.PENDING]
    assert listed[1].attempts == 1


def test_artifact_roundtrip_and_update(store: Store) -> None:
    model = ArtifactRecord(
        run_id="r1",
        task_path="train",
        name="model",
        uri="r1/train/model",
        type="system.Model",
        metadata={"accuracy": 0.9},
        size=12,
        digest="ab" * 32,
    )
    data = ArtifactRecord(
        run_id="r1", task_path="prep", name="data", uri="r1/prep/data", type="system.Dataset"
    )
    store.save_artifacts([model, data])
    model.size = 13
    store.save_artifacts([model])
    assert store.artifacts("r1") == [model, data]
    assert store.artifacts("r2") == []


def test_latest_is_the_most_recently_created(store: Store) -> None:
    for run_id, created in (("aaa", 3.0), ("bbb", 1.0), ("ccc", 2.0)):
        store.save_run(make_run(run_id, created))
    assert store.run("latest").run_id == "aaa"
    assert [r.run_id for r in store.runs()] == ["aaa", "ccc", "bbb"]
    assert [r.run_id for r in store.runs(limit=2)] == ["aaa", "ccc"]


def test_latest_in_an_empty_store(store: Store) -> None:
    with pytest.raises(RunNotFoundError):
        store.run("latest")


def test_unique_prefix(store: Store) -> None:
    for run_id in ("abc123", "abd456", "f00d99"):
        store.save_run(make_run(run_id))
    assert store.run("abc").run_id == "abc123"
    assert store.run("f").run_id == "f00d99"
    assert store.run("abd456").run_id == "abd456"
    with pytest.raises(RunNotFoundError, match="'ab'"):
        store.run("ab")  # ambiguous


def test_exact_id_wins_over_longer_ids_it_prefixes(store: Store) -> None:
    for run_id in ("ab12", "ab1234", "ab1299"):  # the exact id is saved first here...
        store.save_run(make_run(run_id))
    assert store.run("ab12").run_id == "ab12"


def test_exact_id_wins_even_when_saved_last(store: Store) -> None:
    for run_id in ("ab1234", "ab1299", "ab12"):  # ...and last here
        store.save_run(make_run(run_id))
    assert store.run("ab12").run_id == "ab12"


@pytest.mark.parametrize("run_id", ["zzz", "abc1234", "bc1"])
def test_unknown_run_id(store: Store, run_id: str) -> None:
    store.save_run(make_run("abc123"))
    with pytest.raises(RunNotFoundError) as info:
        store.run(run_id)
    assert repr(run_id) in str(info.value)


@pytest.mark.parametrize("pattern", ["%", "_bc", ""])
def test_prefix_is_not_a_like_pattern(store: Store, pattern: str) -> None:
    store.save_run(make_run("abc123"))
    with pytest.raises(RunNotFoundError):
        store.run(pattern)


def test_created_runs_get_ids_no_other_run_has(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save_run(make_run("taken"))
    candidates = iter(["taken", "taken", "fresh"])
    monkeypatch.setattr(store_base, "new_run_id", lambda: next(candidates))
    run = make_run("")
    store.create_run(run)
    assert run.run_id == "fresh" and run.created_at > 0
    assert store.run("fresh") == run
    assert store.run("taken").pipeline_file == "p.yaml"  # the earlier run is left as it was


def test_created_run_ids_are_unique(store: Store) -> None:
    runs = [make_run("") for _ in range(50)]
    for run in runs:
        store.create_run(run)
    assert len({r.run_id for r in runs}) == 50
    assert {r.run_id for r in store.runs(limit=100)} == {r.run_id for r in runs}


def test_save_progress_inserts_new_rows_and_updates_changed_ones_in_one_call(store: Store) -> None:
    store.save_run(make_run("r1"))
    first = make_task("a")
    first.component_digest = "sha256:aa"
    store.save_progress([first], {}, [])
    first.state, first.attempts, first.inputs = TaskState.RUNNING, 1, {"n": 1}
    first.component_digest = "sha256:bb"
    second = make_task("b")
    artifact = ArtifactRecord(run_id="r1", task_path="a", name="out", uri="r1/a/out", type="system.Dataset")
    store.save_progress([second], {TASK_CHANGEABLE: [first]}, [artifact])
    assert store.task("r1", "a") == first  # every changeable column, component_digest among them
    assert store.task("r1", "b") == second
    assert store.artifacts("r1") == [artifact]
    assert [t.path for t in store.tasks("r1")] == ["a", "b"]


def test_save_progress_writes_only_the_columns_it_is_told_changed(store: Store) -> None:
    store.save_run(make_run("r1"))
    task = make_task("a")
    store.save_progress([task], {}, [])
    task.state, task.error = TaskState.FAILED, "exit 1"
    store.save_progress([], {("state",): [task]}, [])
    saved = store.task("r1", "a")
    assert saved is not None and saved.state == TaskState.FAILED and saved.error == ""


def test_save_progress_refuses_to_change_a_tasks_identity(store: Store) -> None:
    store.save_run(make_run("r1"))
    task = make_task("a")
    store.save_progress([task], {}, [])
    task.name = "renamed"
    with pytest.raises(ValueError, match="name"):
        store.save_progress([], {("name", "state"): [task]}, [])
    saved = store.task("r1", "a")
    assert saved is not None and saved.name == "a"


def test_save_run_progress_needs_a_saved_run_and_keeps_what_it_does_not_change(store: Store) -> None:
    run = make_run("r1")
    with pytest.raises(RunNotFoundError):
        store.save_run_progress(run)
    run.spec_text = "the pipeline"
    store.save_run(run)
    run.state, run.outputs, run.spec_text = RunState.SUCCEEDED, {"parameters": {"x": 1}}, "changed"
    store.save_run_progress(run)
    saved = store.run("r1")
    assert saved.state == RunState.SUCCEEDED and saved.outputs == {"parameters": {"x": 1}}
    assert saved.spec_text == "the pipeline"


def test_a_pipeline_text_is_kept_once_for_all_its_runs_and_each_run_reads_its_own(store: Store) -> None:
    first, second, other = make_run("r1"), make_run("r2"), make_run("r3")
    first.spec_text = second.spec_text = "root: {}\n"
    other.spec_text = "root: {dag: {}}\n"
    store.save_run(first)
    store.save_run(second)
    store.create_run(other)
    store.save_run(first)  # saved again: still one text
    texts = [store.run(r).spec_text for r in ("r1", "r2", other.run_id)]
    assert texts == [first.spec_text, first.spec_text, other.spec_text]
    assert store._rows("SELECT COUNT(*) FROM spec_texts") == [(2,)]


def test_a_listing_gives_each_run_its_pipeline_text_held_once_per_pipeline(store: Store) -> None:
    # More pipelines than one statement reads texts of, and a run with no text.
    runs = [make_run(f"r{i:04}", created_at=float(i + 1)) for i in range(store_base._SPEC_BATCH + 20)]
    for i, run in enumerate(runs):
        run.spec_text = f"root: {{dag: {{tasks: {{t{i % (store_base._SPEC_BATCH + 10)}: {{}}}}}}}}\n"
    runs[-1].spec_text = ""
    for run in runs:
        store.save_run(run)
    listed = store.runs(None)
    assert [r.run_id for r in listed] == [r.run_id for r in reversed(runs)]
    assert [r.spec_text for r in listed] == [r.spec_text for r in reversed(runs)]
    by_text: dict[str, set[int]] = {}
    for record in listed:
        by_text.setdefault(record.spec_text, set()).add(id(record.spec_text))
    assert all(len(copies) == 1 for copies in by_text.values())
    assert listed[0].spec_text == "" and store.run("r0519").spec_text == ""


def test_pipelines_are_the_names_of_those_with_runs_sorted_once_each(store: Store) -> None:
    assert store.pipelines() == []
    for run_id, pipeline in (("r1", "beta"), ("r2", "alpha"), ("r3", "beta")):
        run = make_run(run_id, created_at=1.0)
        run.pipeline = pipeline
        store.save_run(run)
    assert store.pipelines() == ["alpha", "beta"]


def test_task_columns_reads_fields_with_their_types_and_only_task_fields(store: Store) -> None:
    store.save_run(make_run("r1"))
    store.save_tasks([make_task("a", TaskState.FAILED), make_task("b")])
    assert store.task_columns("r1", ("path", "state", "outputs")) == [
        ["a", TaskState.FAILED, {}],
        ["b", TaskState.PENDING, {}],
    ]
    with pytest.raises(ValueError, match="not task columns"):
        store.task_columns("r1", ("path", "1; DROP TABLE tasks"))


def test_runs_are_filtered_by_state_pipeline_and_creation_time_in_the_query(store: Store) -> None:
    for run_id, pipeline, state, created in [
        ("r1", "p", RunState.SUCCEEDED, 100.0),
        ("r2", "q", RunState.FAILED, 200.0),
        ("r3", "p", RunState.FAILED, 300.0),
        ("r4", "p", RunState.RUNNING, 400.0),
    ]:
        run = make_run(run_id, created_at=created)
        run.pipeline, run.state = pipeline, state
        store.save_run(run)

    def ids(**given: Any) -> list[str]:
        return [r.run_id for r in store.runs(**given)]

    assert ids() == ["r4", "r3", "r2", "r1"]
    assert ids(limit=None, states=[RunState.FAILED]) == ["r3", "r2"]
    assert ids(states=[RunState.FAILED, RunState.RUNNING], pipeline="p") == ["r4", "r3"]
    assert ids(since=200.0) == ["r4", "r3", "r2"]
    assert ids(before=300.0, limit=1) == ["r2"]
    assert ids(pipeline="p' OR '1'='1") == []


def test_deleting_a_run_takes_its_tasks_and_artifacts_only_once_it_finished(store: Store) -> None:
    done, running = make_run("r1"), make_run("r2")
    done.state, running.state = RunState.FAILED, RunState.RUNNING
    store.save_run(done)
    store.save_run(running)
    for run_id in ("r1", "r2"):
        task = make_task("a")
        task.run_id = run_id
        store.save_tasks([task])
        store.save_artifacts([ArtifactRecord(run_id, "a", "out", f"{run_id}/a/out", "system.Dataset")])
    assert not store.delete_finished_run("r2")
    assert store.run("r2").state is RunState.RUNNING and len(store.tasks("r2")) == 1
    assert store.delete_finished_run("r1")
    with pytest.raises(RunNotFoundError):
        store.run("r1")
    assert store.tasks("r1") == [] and store.artifacts("r1") == []
    assert len(store.tasks("r2")) == 1 and len(store.artifacts("r2")) == 1
    assert not store.delete_finished_run("r1")  # gone already


def test_runs_reusing_a_runs_outputs_are_those_with_its_files_under_the_same_root(store: Store) -> None:
    for run_id, root in [("r1", "/r"), ("r10", "/r"), ("r2", "/r"), ("r3", "/other")]:
        run = make_run(run_id)
        run.root = root
        store.save_run(run)
    store.save_artifacts(
        [
            ArtifactRecord("r1", "a", "out", "r1/a/out", "system.Dataset"),
            ArtifactRecord("r2", "a", "out", "r1/a/out", "system.Dataset"),  # cached from r1
            ArtifactRecord("r10", "a", "out", "r10/a/out", "system.Dataset"),  # "r1" is a prefix of its id
            ArtifactRecord("r3", "a", "out", "r1/a/out", "system.Dataset"),  # another root's r1/
        ]
    )
    assert store.runs_reusing("r1") == ["r2"]
    assert store.runs_reusing("r2") == []


def test_the_write_ahead_log_of_a_sqlite_store_stays_bounded_under_many_commits(tmp_path: Path) -> None:
    from runner.store import SQLiteStore

    store = SQLiteStore(tmp_path / "flow.db")
    wal = tmp_path / "flow.db-wal"
    page = store._rows("PRAGMA page_size")[0][0]
    for number in range(600):  # some 12 KB of pages each: twice SQLite's checkpoint threshold
        record = RunRecord(run_id="", pipeline=f"p{number}", pipeline_file="", backend="fake", root="/r")
        store.create_run(record)
    # Checkpoints happen as the log passes 1000 pages, after which it starts over.
    assert 100_000 < wal.stat().st_size < 1100 * page
    assert len(store.runs(1000)) == 600
    store.close()
