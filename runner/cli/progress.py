"""Live progress of a run: a table redrawn in place on a terminal, plain lines when output is piped."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from runner.store import TaskRecord, TaskState

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

STATE_STYLES = {
    TaskState.PENDING: "dim",
    TaskState.RUNNING: "cyan",
    TaskState.SUCCEEDED: "green",
    TaskState.CACHED: "green",
    TaskState.FAILED: "bold red",
    TaskState.SKIPPED_UPSTREAM_FAILED: "yellow",
    TaskState.SKIPPED_CONDITION: "dim",
    TaskState.CANCELLED: "yellow",
}


class Progress:
    """Receives every task change from the engine (`on_change`) and shows it."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._states: dict[str, TaskState] = {}
        self._records: dict[str, TaskRecord] = {}
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console  # only for a terminal: piped output is plain lines
            from rich.live import Live

            self._live = Live(
                self._table(), console=Console(file=self.stream), refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(kind, value, tb)

    def on_change(self, record: TaskRecord) -> None:
        if self._states.get(record.path) == record.state:
            return
        self._states[record.path] = record.state
        self._records[record.path] = record
        if self._live is not None:
            self._live.update(self._table())
        elif record.state != TaskState.PENDING:
            stamp = time.strftime("%H:%M:%S")
            attempt = f" (attempt {record.attempts})" if record.attempts > 1 else ""
            print(f"{stamp} {record.state.value:<24} {record.path}{attempt}", file=self.stream, flush=True)

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        table.add_column("task")
        table.add_column("state")
        table.add_column("time", justify="right")
        now = time.time()
        for path, record in self._records.items():
            elapsed = ""
            if record.started_at is not None:
                elapsed = f"{(record.finished_at or now) - record.started_at:.1f}s"
            state = record.state
            table.add_row(path, f"[{STATE_STYLES[state]}]{state.value}[/]", elapsed)
        return table
