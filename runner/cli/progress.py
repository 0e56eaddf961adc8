"""Live progress of a run: a table redrawn in place on a terminal, plain lines when output is piped; with
`stream_logs`, the tasks' output interleaved, each line with its task's name."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from runner.cli.dagorder import dag_orders
from runner.cli.logstream import LogStream
from runner.cli.screen import Screen, attempt_failure, last_line, safe_line
from runner.cli.taskview import RunView
from runner.engine.events import AttemptFailed, EngineEvent, LoopOpened
from runner.errors import FlowError
from runner.spec import PipelineSpec, load_text
from runner.store import RunRecord, TaskRecord, TaskState

if TYPE_CHECKING:  # rich loads only on a terminal: a piped run prints plain lines
    from rich.console import Console
    from rich.live import Live

REFRESH_PER_SECOND = 4  # the table's timers tick at this rate


class Progress:
    """Receives every task change (`on_change`) and engine event (`on_event`) of a run, and shows them."""

    def __init__(
        self,
        stream: TextIO | None = None,
        live: bool | None = None,
        *,
        spec: PipelineSpec | None = None,
        stream_logs: bool = False,
        clock: Callable[[], float] = time.time,
        console: Console | None = None,
    ) -> None:
        """`live`: redraw a table in place (default: when `stream` is a terminal); `console`: the rich
        console to draw on (default: one on `stream`). `spec`: the pipeline, whose DAGs give the order of
        the tasks (else `started` reads it from the run). `clock`: seconds since the epoch."""
        self.stream = stream or (console.file if console is not None else sys.stdout)
        self.live = self.stream.isatty() if live is None else live
        self.clock = clock
        self.view = RunView(dag_orders(spec) if spec is not None else None)
        self._console = console
        self._live: Live | None = None
        self._write_lock = threading.Lock()  # lines come from the engine's thread and the logs' thread
        self._logs = LogStream(self._log_lines) if stream_logs else None

    def __enter__(self) -> Progress:
        if self._logs is not None:
            self._logs.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._logs is not None:
            self._logs.close()
        if self._live is not None:
            self._live.__exit__(kind, value, tb)  # draws the table a last time, and leaves it on the screen

    def screen(self) -> Screen:
        return self.view.screen(self.clock())

    def started(self, run: RunRecord) -> None:
        """The run is recorded (`on_start`): without a spec given, its pipeline gives the tasks' order."""
        if self.view.has_orders or not run.spec_text:
            return
        try:
            self.view.set_orders(dag_orders(load_text(run.spec_text, run.pipeline_file)))
        except FlowError:  # a pipeline this version no longer reads: tasks are listed as they come
            return

    def on_change(self, record: TaskRecord) -> None:
        if not self.view.task_changed(record):
            return
        if self._logs is not None and record.log_path:
            if record.state == TaskState.RUNNING:
                self._logs.follow(record.log_path, _label(record))
            else:  # the attempt ended (PENDING: it failed and another one comes): its log is whole
                self._logs.finish(record.log_path)
        if self.live:
            self._start_live()
        elif record.state != TaskState.PENDING:
            attempt = f" (attempt {record.attempts})" if record.attempts > 1 else ""
            error = f": {last_line(record.error)}" if record.state == TaskState.FAILED else ""
            self._write(f"{self._stamp()} {record.state.value:<24} {record.path}{attempt}{error}")

    def on_event(self, event: EngineEvent) -> None:
        if isinstance(event, LoopOpened):
            self.view.loop_opened(event.path, event.iterations)
        elif isinstance(event, AttemptFailed):
            self.view.attempt_failed(event)
            line = f"{self._stamp()} {'RETRYING':<24} {event.path}: {attempt_failure(event)}"
            if self.live:
                self._print(line, "yellow")
            else:
                self._write(line)

    def _start_live(self) -> None:
        """Draw the table from the first task on: what is printed before (the run's id) stays above it."""
        if self._live is not None:
            return
        from rich.live import Live

        self._live = Live(
            console=self._terminal(),
            get_renderable=self.screen,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
        )
        self._live.start(refresh=True)

    def _terminal(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream)
        return self._console

    def _log_lines(self, lines: list[tuple[str, str]]) -> None:
        if not self.live:
            self._write(*(f"[{label}] {safe_line(line)}" for label, line in lines))
            return
        from rich.text import Text

        shown = Text()
        for label, line in lines:
            shown.append(f"[{label}]", "cyan")
            shown.append(f" {safe_line(line)}\n")
        shown.rstrip()
        self._terminal().print(shown)

    def _print(self, line: str, style: str) -> None:
        """A line above the live table."""
        from rich.text import Text

        self._terminal().print(Text(line, style))

    def _write(self, *lines: str) -> None:
        with self._write_lock:
            self.stream.write("".join(f"{line}\n" for line in lines))
            self.stream.flush()

    def _stamp(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.clock()))


def _label(record: TaskRecord) -> str:
    return record.path if record.attempts <= 1 else f"{record.path} (attempt {record.attempts})"
