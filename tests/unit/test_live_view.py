"""The live view of `flow run`: fed task records and engine events, drawn on a fixed-size terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

import runner
from backends.fake import FakeBackend, Outcome
from runner import If, ParallelFor, api, component, pipeline
from runner.cli.logstream import LogStream
from runner.cli.progress import Progress
from runner.engine.events import AttemptFailed, EngineEvent, LoopOpened
from runner.spec import load_text
from runner.store import RunRecord, SQLiteStore, TaskRecord, TaskState
from runner.testing.shellsteps import Step
from runner.testing.shellsteps import pipeline as shell_pipeline

START = 1_000_000.0  # the clock's time when the tasks below start
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # what rich sends a terminal besides text (cursor moves)


@component
def step(x: int = 0) -> int:
    return x


@pipeline(name="shape")
def shape() -> None:
    first = step(x=1)
    second = step(x=first.output)
    with If(second.output > 0):
        step(x=second.output)
    with ParallelFor(list(range(40))) as i:
        step(x=i).after(second)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def terminal(height: int = 40) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, height=height, color_system=None)


def drawn(progress: Progress, height: int = 40) -> str:
    console = terminal(height)
    console.print(progress.screen())
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


def record(
    path: str, state: TaskState, *, kind: str = "container", attempts: int = 1, **fields: object
) -> TaskRecord:
    parent, _, name = path.rpartition("/")
    started = None if state == TaskState.PENDING else START
    finished = START + 2 if state.finished else None
    made = TaskRecord("r1", path, name, "comp-step", kind, parent, state, attempts, started, finished)
    for field, value in fields.items():
        setattr(made, field, value)
    return made


def shape_progress(clock: Clock | None = None, **options: object) -> Progress:
    return Progress(
        console=terminal(), live=True, spec=api.load_pipeline(shape), clock=clock or Clock(), **options
    )


def test_a_running_task_s_timer_ticks_with_the_clock() -> None:
    clock = Clock()
    progress = shape_progress(clock)
    progress.on_change(record("step", TaskState.RUNNING))
    clock.now = START + 5
    at_five = drawn(progress)
    clock.now = START + 72
    at_seventy_two = drawn(progress)
    assert "5.0s" in at_five and "1m12s" in at_seventy_two and at_five != at_seventy_two
    progress.on_change(record("step", TaskState.SUCCEEDED))
    clock.now = START + 500
    assert "2.0s" in drawn(progress)  # a finished task's time stays what it took


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in CONTROL.sub("", text).splitlines()]


def test_rows_follow_the_dag_with_a_group_s_tasks_under_it() -> None:
    progress = shape_progress()
    # In the order the engine makes them, which is the file's (alphabetical: groups first).
    for path, kind in [("condition-1", "dag"), ("for-loop-3", "dag"), ("step", "container")]:
        progress.on_change(record(path, TaskState.SUCCEEDED, kind=kind))
    progress.on_change(record("step-2", TaskState.SUCCEEDED))
    progress.on_change(record("condition-1/step-3", TaskState.RUNNING))
    names = [line.split()[0] for line in lines_of(drawn(progress))[1:-1]]
    assert names == ["step", "step-2", "condition-1", "step-3", "for-loop-3"]
    assert any(line.startswith("  step-3 ") for line in lines_of(drawn(progress)))


def test_a_spec_s_order_is_topological_with_the_file_s_order_between_free_tasks() -> None:
    spec = load_text(
        shell_pipeline(
            {
                "zeta": Step("true"),
                "alpha": Step("true", after=("zeta",)),
                "mid": Step("true", after=("alpha",)),
            }
            | {"beta": Step("true")}
        )
    )
    progress = Progress(console=terminal(), live=True, spec=spec, clock=Clock())
    for name in spec.root.dag.tasks:  # alpha, beta, mid, zeta: the file has them sorted
        progress.on_change(record(name, TaskState.PENDING))
    names = [line.split()[0] for line in lines_of(drawn(progress))[1:-1]]
    assert names == ["beta", "zeta", "alpha", "mid"]


def test_resume_reads_the_order_from_the_run_s_pipeline() -> None:
    spec_text = shell_pipeline({"zeta": Step("true"), "alpha": Step("true", after=("zeta",))})
    progress = Progress(console=terminal(), live=True, clock=Clock())
    progress.started(RunRecord("r1", "shell-steps", "p.yaml", "process", "/root", spec_text=spec_text))
    for name in ("alpha", "zeta"):
        progress.on_change(record(name, TaskState.PENDING))
    assert [line.split()[0] for line in lines_of(drawn(progress))[1:-1]] == ["zeta", "alpha"]


def loop_of_forty(progress: Progress) -> None:
    """A loop of 40 iterations: 36 succeeded, one failed, three running."""
    progress.on_change(record("for-loop-3", TaskState.RUNNING, kind="dag"))
    progress.on_event(LoopOpened("for-loop-3", 40))
    for index in range(40):
        state = TaskState.SUCCEEDED if index < 37 else TaskState.RUNNING
        state = TaskState.FAILED if index == 7 else state
        progress.on_change(
            record(f"for-loop-3/{index}/step-4", state, error="exited with code 1\nKeyError: 7")
        )


def test_a_loop_is_one_row_with_its_progress_and_failures() -> None:
    progress = shape_progress()
    loop_of_forty(progress)
    text = drawn(progress)
    assert "for-loop-3" in text and "37/40 · 3 running · 1 failed" in text
    assert "step-4" not in text and "..." not in text and "…" not in text
    assert "36 done · 3 running · 1 failed · 0 cached · 0 pending" in text


def test_counters_count_tasks_not_groups() -> None:
    progress = shape_progress()
    progress.on_change(record("step", TaskState.CACHED))
    progress.on_change(record("step-2", TaskState.RUNNING))
    progress.on_change(record("condition-1", TaskState.PENDING, kind="dag"))
    progress.on_change(record("for-loop-3", TaskState.SKIPPED_UPSTREAM_FAILED, kind="dag"))
    progress.on_change(record("other", TaskState.PENDING))
    progress.on_change(record("gone", TaskState.SKIPPED_CONDITION))
    assert "0 done · 1 running · 0 failed · 1 cached · 1 pending · 1 skipped" in drawn(progress)


def test_rows_beyond_the_screen_are_summed_up_keeping_what_runs_and_failed() -> None:
    progress = Progress(console=terminal(), live=True, clock=Clock())
    for index in range(30):
        progress.on_change(record(f"done-{index:02}", TaskState.SUCCEEDED))
    progress.on_change(record("broken", TaskState.FAILED, error="exited with code 3\nOSError: disk full"))
    for index in range(5):
        progress.on_change(record(f"busy-{index}", TaskState.RUNNING))
    text = drawn(progress, height=15)
    assert len(lines_of(text)) == 15
    assert "broken" in text and "OSError: disk full" in text and all(f"busy-{i}" in text for i in range(5))
    assert "… 24 more not shown (24 finished)" in text
    assert "30 done · 5 running · 1 failed" in text


def test_a_retried_attempt_gets_its_own_line_with_its_last_error_line() -> None:
    failed = AttemptFailed("train", 1, "exited with code 1\nepoch 3\nRuntimeError: flaky disk\n", 4.0)
    piped = io.StringIO()
    progress = Progress(piped, live=False, clock=Clock())
    progress.on_change(record("train", TaskState.RUNNING))
    progress.on_event(failed)
    line = piped.getvalue().splitlines()[-1]
    assert "RETRYING" in line and "train: attempt 1 failed" in line
    assert "(exited with code 1: RuntimeError: flaky disk); attempt 2 in 4.0s" in line

    on_terminal = shape_progress()
    on_terminal.on_change(record("train", TaskState.RUNNING))
    on_terminal.on_event(failed)
    on_terminal.on_change(record("train", TaskState.PENDING, error=failed.error))
    text = " ".join(on_terminal._terminal().file.getvalue().split())  # type: ignore[attr-defined]
    assert "train: attempt 1 failed (exited with code 1: RuntimeError: flaky disk)" in text
    assert "attempt 1 failed, retrying: RuntimeError: flaky disk" in drawn(on_terminal)
    on_terminal.__exit__(None, None, None)


def test_the_table_starts_after_what_was_printed_before_the_first_task() -> None:
    console = terminal()
    progress = Progress(console=console, live=True, clock=Clock())
    with progress:
        assert console.file.getvalue() == ""  # type: ignore[attr-defined]
        console.print("run 1234abcd: shape on process, root /tmp/root")
        progress.on_change(record("step", TaskState.RUNNING))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    first, second = lines_of(text)[:2]
    assert first == "run 1234abcd: shape on process, root /tmp/root"
    assert second.split() == ["task", "state", "time"]


def test_a_task_cannot_write_escape_sequences_to_the_terminal(tmp_path: Path) -> None:
    failed = AttemptFailed("t", 1, "exited with code 1\n\x1b[2J\x1b]0;owned\x07gone", 0.0)
    piped = io.StringIO()
    progress = Progress(piped, live=False, stream_logs=True, clock=Clock())
    log = tmp_path / "attempt-1.log"
    log.write_bytes(b"\x1b[31mred\x1b[0m\ttab\r\n")
    with progress:
        progress.on_change(record("t", TaskState.RUNNING, log_path=str(log)))
        progress.on_change(record("t", TaskState.PENDING, log_path=str(log)))
        progress.on_event(failed)
    assert "\x1b" not in piped.getvalue() and "\x07" not in piped.getvalue()
    assert "[t] \\x1b[31mred\\x1b[0m    tab" in piped.getvalue()
    assert "\\x1b[2J\\x1b]0;owned\\x07gone" in piped.getvalue()


def test_log_stream_hands_on_whole_lines_in_order(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    stream = LogStream(lines.extend)
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    stream.follow(str(first), "a")
    stream.follow(str(second), "b")
    stream.poll()  # neither file is there yet
    first.write_bytes(b"one\ntw")
    stream.poll()
    assert lines == [("a", "one")]
    with first.open("ab") as log:
        log.write("o\n10%\r50%\r100%\n\xe2\x82".encode("latin-1"))  # a character cut in the middle
    second.write_bytes(b"x" * 40_000)
    stream.poll()
    assert lines[1:] == [("a", "two"), ("a", "100%"), ("b", "x" * 16_384), ("b", "x" * 16_384)]
    with first.open("ab") as log:
        log.write(b"\xac and the last line without its end")
    stream.finish(str(first))
    stream.close()
    assert lines[5:] == [("a", "€ and the last line without its end"), ("b", "x" * (40_000 - 2 * 16_384))]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SQLiteStore:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    return SQLiteStore(tmp_path / "db")


def test_the_engine_tells_a_loop_s_size_and_an_attempt_to_be_retried(
    store: SQLiteStore, tmp_path: Path
) -> None:
    @pipeline(name="told")
    def told() -> None:
        step(x=1).set_retry(2, backoff_duration="0s")
        with ParallelFor([1, 2, 3], parallelism=1) as i:
            step(x=i)

    backend = FakeBackend(
        lambda spec: (
            Outcome(exit_code=1, log="epoch 1\nOSError: disk full\n")
            if spec.task_path == "step" and spec.attempt == 1
            else Outcome(parameters={"Output": 1})
        )
    )
    events: list[EngineEvent] = []
    seen: list[tuple[str, TaskState]] = []
    result = runner.run(
        told,
        backend=backend,
        root=tmp_path / "root",
        store=store,
        on_event=events.append,
        on_change=lambda r: seen.append((r.path, r.state)),
    )
    assert result.succeeded
    assert LoopOpened("for-loop-2", 3) in events
    (failed,) = [e for e in events if isinstance(e, AttemptFailed)]
    assert (failed.path, failed.attempt, failed.retry_in) == ("step", 1, 0.0)
    assert failed.error.splitlines()[-1] == "OSError: disk full"
    # The record went back to PENDING before the event: the view has the attempt's log whole by then.
    assert [s for p, s in seen if p == "step"] == [
        TaskState.PENDING,
        TaskState.RUNNING,
        TaskState.PENDING,
        TaskState.RUNNING,
        TaskState.SUCCEEDED,
    ]
    store.close()
