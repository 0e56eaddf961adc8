"""A failed task's error, from the end of its log: for a Python component that raised, the exception's line,
and the traceback from the component's own frames on.

A Python program that dies of an exception prints its traceback last and exits with 1. The program that runs
a component (kfp's executor, flow's before it left its own frames out) shows in its first frames; they say
nothing of the failure, so the error leaves them out. The log keeps everything the task wrote.
"""

from __future__ import annotations

import re

from runner.engine.attempts import LOG_TAIL_LINES, log_tail

_HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line \d+')
# kfp's executor (run as `python3 -m kfp.dsl.executor_main`) with runpy, which starts it; flow's bootstrap
# and executor as compiled by versions that printed their frames.
_RUNNER_FILE = re.compile(r"(.*/)?kfp/dsl/executor(_main)?\.py|<frozen runpy>|flow_executor\.py|<string>")
# kfp writes a component's code to a new temporary folder in each task: the folder tells nothing.
_KFP_CODE = re.compile(r'^  File "/[^"]*/(ephemeral_component\.py)"')
_UNCAUGHT_EXIT_CODE = 1  # what Python exits with after an uncaught exception
_READ_LINES = 4 * LOG_TAIL_LINES  # the frames left out may fill the end of the log


def task_error(message: str, exit_code: int | None, log_path: str) -> str:
    """The error of a failed attempt: the exception's line and the traceback without the frames of what ran
    the component when the task died of a Python exception, else `message` (the backend's); then the last
    lines of its log."""
    lines = log_tail(log_path, _READ_LINES).splitlines()
    if exit_code == _UNCAUGHT_EXIT_CODE:
        shown = without_runner_frames(lines)
        line = exception_line(shown)
        if line:
            return "\n".join([line, *shown[-LOG_TAIL_LINES:]])
    tail = lines[-LOG_TAIL_LINES:]
    return "\n".join([message, *tail])


def exception_line(lines: list[str]) -> str:
    """The line naming the exception of the last traceback in `lines` (`ValueError: bad input`), or ""."""
    frames = [i for i, line in enumerate(lines) if _FRAME.match(line)]
    if not frames:
        return ""
    for line in lines[frames[-1] + 1 :]:
        if line.strip() and not line.startswith(" "):
            return line
    return ""


def without_runner_frames(lines: list[str]) -> list[str]:
    """`lines` with each traceback's first frames left out while they are of the program that ran the
    component (a traceback with no other frame kept whole), and kfp's temporary folder out of file names."""
    shown: list[str] = []
    # The frames of the traceback being read, each its file and lines; a log's end may begin inside one.
    frames: list[tuple[str, list[str]]] = []

    def flush() -> None:
        first = 0
        while first < len(frames) and _RUNNER_FILE.fullmatch(frames[first][0]):
            first += 1
        for _, frame in frames[first:] if first < len(frames) else frames:
            shown.extend(frame)
        frames.clear()

    for line in lines:
        frame = _FRAME.match(line)
        if frame:
            frames.append((frame["file"], [_KFP_CODE.sub(r'  File "\1"', line)]))
        elif frames and line.startswith("    "):
            frames[-1][1].append(line)
        else:
            flush()
            shown.append(line)
    flush()
    return shown
