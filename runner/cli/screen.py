"""The live table of a run's tasks as drawn at one moment: rows, their timers, and the counter line.

Drawn a few times a second while the engine runs in the same process, so it is made of plain lines of text
(a rich Table costs several times more), and only the rows that fit the terminal are formatted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from runner.cli.format import duration
from runner.engine.events import AttemptFailed
from runner.errors import one_line
from runner.store import TaskRecord, TaskState

if TYPE_CHECKING:  # rich loads only when a table is drawn: a piped run draws none
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.text import Text

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
# The counter line, in this order; skipped and cancelled tasks are counted only when there are some.
COUNTED = ("done", "running", "failed", "cached", "pending")
SOMETIMES_COUNTED = ("skipped", "cancelled")
_QUIET = frozenset((TaskState.SUCCEEDED, TaskState.CACHED, TaskState.SKIPPED_CONDITION))
_FRAME_LINES = 3  # the header, the counter line, and the line saying what rows are not shown
_GAP = "  "


def safe_line(text: str) -> str:
    """A line of a container's output or error as it may reach a terminal: tabs as spaces, other control
    characters (escape sequences among them) escaped, so a task cannot rewrite the screen."""
    return one_line(text.expandtabs())


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return safe_line(lines[-1].strip()) if lines else ""


def attempt_failure(event: AttemptFailed) -> str:
    """One line for an attempt that failed and runs again: why, its last line of output, when again."""
    lines = [line for line in event.error.splitlines() if line.strip()]
    why = safe_line(lines[0].strip()) if lines else "failed"
    last = last_line(event.error)
    said = why if last in ("", why) else f"{why}: {last}"
    after = f"in {duration(event.retry_in)}" if event.retry_in > 0 else "now"
    return f"attempt {event.attempt} failed ({said}); attempt {event.attempt + 1} {after}"


def counter_line(counts: Mapping[str, int]) -> str:
    named = [*COUNTED, *(what for what in SOMETIMES_COUNTED if counts.get(what))]
    return " · ".join(f"{counts.get(what, 0)} {what}" for what in named)


@dataclass
class LoopProgress:
    """The iterations of a loop: how many there are (None until the engine says) and how they stand."""

    iterations: int | None = None
    done: int = 0
    running: int = 0
    failed: int = 0

    def __str__(self) -> str:
        total = "?" if self.iterations is None else str(self.iterations)
        parts = [f"{self.done}/{total}"]
        if self.running:
            parts.append(f"{self.running} running")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return " · ".join(parts)


class Listed(NamedTuple):  # one per listed task and drawing: a tuple is the cheapest to make
    """A task to list: how deep under groups, its record, and its state as the engine last told it."""

    depth: int
    record: TaskRecord
    state: TaskState


@dataclass(frozen=True)
class Screen:
    """The table and the counter line at the time `now`; rows beyond the console's height are summed up in
    one line, the finished ones first, so that what runs and what failed stays in sight."""

    listed: Sequence[Listed]
    loops: Mapping[str, LoopProgress]
    failed_attempts: Mapping[str, AttemptFailed]
    counts: Mapping[str, int]
    now: float

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        shown, hidden = _fitted(self.listed, max(1, options.max_height - _FRAME_LINES))
        cells = [
            (
                "  " * item.depth + item.record.name,
                item.state,
                _time(item.record, item.state, self.now),
                self._detail(item),
            )
            for item in shown
        ]
        lines = _table(cells, options.max_width)
        if hidden:
            sums = Counter("finished" if item.state.finished else "not finished" for item in hidden)
            said = ", ".join(f"{count} {what}" for what, count in sorted(sums.items()))
            lines.append(Text(f"… {len(hidden)} more not shown ({said})", style="dim"))
        lines.append(Text(counter_line(self.counts)))
        text = Text("\n").join(lines)
        text.no_wrap, text.overflow = True, "ellipsis"
        yield text

    def _detail(self, item: Listed) -> str:
        record = item.record
        loop = self.loops.get(record.path)
        if loop is not None:
            return str(loop)
        if item.state == TaskState.FAILED:
            return last_line(record.error)
        failed = self.failed_attempts.get(record.path)
        if item.state == TaskState.PENDING and failed is not None:
            return f"attempt {failed.attempt} failed, retrying: {last_line(failed.error)}"
        if record.attempts > 1:
            return f"attempt {record.attempts}"
        return ""


def _table(cells: list[tuple[str, TaskState, str, str]], width: int) -> list[Text]:
    """Lines of columns: task, state, time (to the right), and what else there is to say, cut to fit."""
    from rich.cells import cell_len
    from rich.text import Text

    name_width = min(max([4, *(cell_len(name) for name, _, _, _ in cells)]), max(10, width // 2))
    state_width = max([5, *(len(state.value) for _, state, _, _ in cells)])
    time_width = max([4, *(len(time) for _, _, time, _ in cells)])
    detail_width = width - name_width - state_width - time_width - 3 * len(_GAP)
    header = Text(f"{'task':<{name_width}}{_GAP}{'state':<{state_width}}{_GAP}{'time':>{time_width}}", "bold")
    lines = [header]
    for name, state, time, detail in cells:
        line = Text()
        shown_name = Text(name)
        shown_name.truncate(name_width, overflow="ellipsis", pad=True)
        line.append_text(shown_name)
        line.append(_GAP)
        line.append(f"{state.value:<{state_width}}", STATE_STYLES[state])
        line.append(f"{_GAP}{time:>{time_width}}")
        if detail and detail_width > 1:
            shown_detail = Text(detail, style="red" if state == TaskState.FAILED else "dim")
            shown_detail.truncate(detail_width, overflow="ellipsis")
            line.append(_GAP)
            line.append_text(shown_detail)
        lines.append(line)
    return lines


def _fitted(listed: Sequence[Listed], room: int) -> tuple[list[Listed], list[Listed]]:
    """The rows to draw in `room` lines and those left out: the quiet ones first (earliest first), then
    the last ones."""
    if len(listed) <= room + 1:  # the line about the others is not needed: one more row fits
        return list(listed), []
    quiet = [i for i, item in enumerate(listed) if item.state in _QUIET]
    loud = [i for i in range(len(listed) - 1, -1, -1) if listed[i].state not in _QUIET]
    left_out = set((quiet + loud)[: len(listed) - room])
    return (
        [item for i, item in enumerate(listed) if i not in left_out],
        [item for i, item in enumerate(listed) if i in left_out],
    )


def _time(record: TaskRecord, state: TaskState, now: float) -> str:
    if record.started_at is None or state == TaskState.PENDING:
        return ""
    end = record.finished_at if state.finished and record.finished_at is not None else now
    return duration(max(0.0, end - record.started_at))  # another machine's clock may be behind
