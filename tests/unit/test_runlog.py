"""runner.store.runlog: while an engine drives a run on a SQLite store, its progress is logged ahead of the
database. A killed engine's log is applied by the next store opened; a live engine's is left alone; the
store that logs answers from what it was given."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.errors import StoreError
from runner.store import RunRecord, SQLiteStore, Store, TaskRecord, TaskState
from runner.store import runlog as runlog_module
from runner.store.applier import UnreadableLog, apply_from, coalesced, frame
from runner.store.columns import TASK_CHEAP, TASK_UPDATE_START
from runner.store.runlog import apply_abandoned

RUN = "r1"


def task(path: str, state: TaskState = TaskState.PENDING, attempts: int = 0) -> TaskRecord:
    return TaskRecord(
        run_id=RUN, path=path, name=path, component="comp-x", kind="container", state=state, attempts=attempts
    )


def new_store(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    store.save_run(RunRecord(run_id=RUN, pipeline="p", pipeline_file="", backend="fake", root="/r"))
    return store


def states(store: Store) -> dict[str, tuple[TaskState, int]]:
    return {t.path: (t.state, t.attempts) for t in store.tasks(RUN)}


Frame = list[tuple[str, list[tuple[Any, ...]]]]


class Committed(list[tuple[str, list[tuple[Any, ...]]]]):
    """What a log applied, batch by batch: a stand-in for the store's commit."""

    def __call__(self, *batches: tuple[str, list[tuple[Any, ...]]]) -> int:
        self.extend(batches)
        return 0


KILLED_ENGINE = textwrap.dedent(
    """
    import os, sys
    from runner.store import RunRecord, SQLiteStore, TaskRecord, TaskState, runlog
    from runner.store.columns import TASK_CHEAP

    runlog.APPLY_INTERVAL_SECONDS = 3600.0  # nothing reaches the database before the kill
    store = SQLiteStore(sys.argv[1])
    store.save_run(RunRecord(run_id="r1", pipeline="p", pipeline_file="", backend="fake", root="/r"))
    a = TaskRecord(run_id="r1", path="a", name="a", component="c", kind="container")
    b = TaskRecord(run_id="r1", path="b", name="b", component="c", kind="container")
    with store.driving("r1"):
        store.save_progress([a, b], {}, [])
        a.state, a.attempts = TaskState.RUNNING, 1
        store.save_progress([], {TASK_CHEAP: [a]}, [])
        a.state = TaskState.SUCCEEDED
        store.save_progress([], {TASK_CHEAP: [a]}, [])
        os._exit(9)  # as SIGKILL: no handler, no context exit
    """
)


def test_the_log_of_a_killed_engine_is_applied_by_the_next_store_opened(tmp_path: Path) -> None:
    db = tmp_path / "flow.db"
    killed = subprocess.run([sys.executable, "-c", KILLED_ENGINE, str(db)], check=False)
    assert killed.returncode == 9
    logs = list((tmp_path / "flow.db-runlogs").iterdir())
    assert [log.name for log in logs] == ["r1.log"]
    with SQLiteStore(db) as store:
        assert states(store) == {"a": (TaskState.SUCCEEDED, 1), "b": (TaskState.PENDING, 0)}
    assert not logs[0].exists()


def test_a_live_engines_log_is_left_to_it_and_its_progress_is_everywhere_once_it_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runlog_module, "APPLY_INTERVAL_SECONDS", 3600.0)
    engine = new_store(tmp_path / "flow.db")
    with engine.driving(RUN):
        engine.save_progress([task("a")], {}, [])
        with SQLiteStore(tmp_path / "flow.db") as reader:  # another command, while the engine lives
            assert states(reader) == {}
        assert (tmp_path / "flow.db-runlogs" / "r1.log").exists()
        assert states(engine) == {"a": (TaskState.PENDING, 0)}, "the engine's store answers from its log"
        engine.save_progress([], {TASK_CHEAP: [task("a", TaskState.RUNNING, 1)]}, [])
    with SQLiteStore(tmp_path / "flow.db") as reader:
        assert states(reader) == {"a": (TaskState.RUNNING, 1)}
    assert list((tmp_path / "flow.db-runlogs").iterdir()) == []
    engine.close()


def test_a_run_driven_by_another_engine_cannot_be_driven(tmp_path: Path) -> None:
    first, second = new_store(tmp_path / "flow.db"), SQLiteStore(tmp_path / "flow.db")
    refused = pytest.raises(StoreError, match="another engine is driving the run")
    with first.driving(RUN), refused, second.driving(RUN):
        pass
    first.close()
    second.close()


def test_only_the_last_of_a_rows_updates_by_one_statement_is_applied() -> None:
    sql_cheap, sql_other = "UPDATE tasks SET state = ? WHERE run_id = ? AND path = ?", "UPDATE tasks SET x"
    batches: Frame = [
        (sql_cheap, [("RUNNING", RUN, "a"), ("RUNNING", RUN, "b")]),
        (sql_other, [(1, RUN, "b")]),
        (sql_cheap, [("SUCCEEDED", RUN, "a"), ("SUCCEEDED", RUN, "b")]),
    ]
    # b's first update stays: another statement came between, and it must not land after it.
    assert coalesced(batches, TASK_UPDATE_START) == [
        (sql_cheap, [("RUNNING", RUN, "b")]),
        (sql_other, [(1, RUN, "b")]),
        (sql_cheap, [("SUCCEEDED", RUN, "a"), ("SUCCEEDED", RUN, "b")]),
    ]


def logged(folder: Path, *frames: Frame) -> Path:
    path = folder / f"{RUN}.log"
    path.write_bytes(b"".join(map(frame, frames)))
    return path


def test_a_frame_cut_short_by_the_kill_is_left_out(tmp_path: Path) -> None:
    first: Frame = [("S1", [("a",)])]
    second: Frame = [("S2", [("b",)])]
    path = logged(tmp_path, first, second)
    path.write_bytes(path.read_bytes()[:-3])
    committed = Committed()
    apply_abandoned(tmp_path, committed)
    assert committed == [("S1", [("a",)])]
    assert not path.exists()


def test_an_unreadable_log_is_an_error_naming_it_and_is_kept(tmp_path: Path) -> None:
    path = logged(tmp_path, [("S1", [("a",)])])
    data = path.read_bytes()
    path.write_bytes(data[:4] + b"\xff" * (len(data) - 4))
    with pytest.raises(StoreError, match="unreadable run log at byte 4") as raised:
        apply_abandoned(tmp_path, Committed())
    assert str(path) in str(raised.value)
    assert path.exists()


def drive_past_one_interval(engine: SQLiteStore) -> subprocess.Popen[bytes]:
    """Save a task's first transitions while driving, with a tick after the first apply interval: the
    applier process that tick started, running."""
    engine.save_progress([task("a"), task("b")], {}, [])
    time.sleep(0.1)
    engine.save_progress([], {TASK_CHEAP: [task("a", TaskState.RUNNING, 1)]}, [])
    applier = engine._log._applier if engine._log else None
    assert applier is not None and applier.poll() is None, "the applier process runs"
    return applier


def wait_for(what: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_run_longer_than_an_interval_is_applied_by_a_process_of_its_own_while_it_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runlog_module, "APPLY_INTERVAL_SECONDS", 0.05)
    engine = new_store(tmp_path / "flow.db")
    with engine.driving(RUN), SQLiteStore(tmp_path / "flow.db") as reader:
        applier = drive_past_one_interval(engine)
        # The engine does nothing more: what reaches the reader is the applier's doing.
        running = {"a": (TaskState.RUNNING, 1), "b": (TaskState.PENDING, 0)}
        assert wait_for(lambda: states(reader) == running), states(reader)
        engine.save_progress([], {TASK_CHEAP: [task("a", TaskState.SUCCEEDED, 1)]}, [])
        assert states(engine)["a"] == (TaskState.SUCCEEDED, 1), "the engine's store asks it to catch up"
    assert applier.poll() == 0, "it was stopped with the run"
    assert list((tmp_path / "flow.db-runlogs").iterdir()) == []
    with SQLiteStore(tmp_path / "flow.db") as reader:
        assert states(reader) == {"a": (TaskState.SUCCEEDED, 1), "b": (TaskState.PENDING, 0)}
    engine.close()


def test_when_the_applier_process_dies_the_engine_applies_its_log_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runlog_module, "APPLY_INTERVAL_SECONDS", 0.05)
    engine = new_store(tmp_path / "flow.db")
    with engine.driving(RUN), SQLiteStore(tmp_path / "flow.db") as reader:
        applier = drive_past_one_interval(engine)
        applier.kill()
        applier.wait()
        time.sleep(0.1)
        # The next tick after an interval finds it dead and applies the log here, from its last reply on.
        engine.save_progress([], {TASK_CHEAP: [task("b", TaskState.RUNNING, 1)]}, [])
        assert states(reader) == {"a": (TaskState.RUNNING, 1), "b": (TaskState.RUNNING, 1)}
        engine.save_progress([], {TASK_CHEAP: [task("b", TaskState.SUCCEEDED, 1)]}, [])
        assert states(engine)["b"] == (TaskState.SUCCEEDED, 1)
    assert list((tmp_path / "flow.db-runlogs").iterdir()) == []
    with SQLiteStore(tmp_path / "flow.db") as reader:
        assert states(reader) == {"a": (TaskState.RUNNING, 1), "b": (TaskState.SUCCEEDED, 1)}
    engine.close()


KILLED_ENGINE_WITH_APPLIER = textwrap.dedent(
    """
    import os, sys, time
    from runner.store import RunRecord, SQLiteStore, TaskRecord, TaskState, runlog
    from runner.store.columns import TASK_CHEAP

    runlog.APPLY_INTERVAL_SECONDS = 0.05
    store = SQLiteStore(sys.argv[1])
    store.save_run(RunRecord(run_id="r1", pipeline="p", pipeline_file="", backend="fake", root="/r"))
    a = TaskRecord(run_id="r1", path="a", name="a", component="c", kind="container")
    with store.driving("r1"):
        store.save_progress([a], {}, [])
        time.sleep(0.1)
        a.state, a.attempts = TaskState.RUNNING, 1
        store.save_progress([], {TASK_CHEAP: [a]}, [])  # starts the applier
        assert store.tasks("r1")[0].state == TaskState.RUNNING  # which applied the log up to here
        a.state = TaskState.SUCCEEDED
        store.save_progress([], {TASK_CHEAP: [a]}, [])
        os._exit(9)
    """
)


def test_the_log_of_an_engine_killed_while_its_applier_ran_is_applied_by_the_next_store(
    tmp_path: Path,
) -> None:
    db = tmp_path / "flow.db"
    killed = subprocess.run([sys.executable, "-c", KILLED_ENGINE_WITH_APPLIER, str(db)], check=False)
    assert killed.returncode == 9
    log = tmp_path / "flow.db-runlogs" / "r1.log"

    def unlocked() -> bool:  # the applier exits once the engine's requests end
        with log.open("rb") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

    assert wait_for(unlocked)
    with SQLiteStore(db) as store:
        assert states(store) == {"a": (TaskState.SUCCEEDED, 1)}
    assert not log.exists()


def test_an_unreadable_frame_is_named_by_its_byte_in_the_log_when_applying_from_the_middle(
    tmp_path: Path,
) -> None:
    first: Frame = [("S1", [("a",)])]
    path = logged(tmp_path, first, [("S2", [("b",)])])
    second_at = len(frame(first))
    data = path.read_bytes()
    path.write_bytes(data[: second_at + 4] + b"\xff" * (len(data) - second_at - 4))
    with path.open("rb") as log, pytest.raises(UnreadableLog, match=f"at byte {second_at + 4}:"):
        apply_from(log, second_at, Committed(), TASK_UPDATE_START)
