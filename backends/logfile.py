"""Reading a task's log file, which its backend writes while the task runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

_FOLLOW_INTERVAL = 0.1
_MAX_LINE = 1 << 20  # a longer line (a task may write one without end) comes in pieces of this size


def read_lines(path: Path, follow: bool, finished: Callable[[], bool]) -> Iterator[str]:
    """The file's lines; with `follow`, keep reading as it grows until `finished()` and nothing is left."""
    with path.open("rb") as log:
        partial = b""
        draining = False
        while True:
            chunk = log.readline(_MAX_LINE - len(partial))
            partial += chunk
            if partial.endswith(b"\n") or len(partial) >= _MAX_LINE:
                yield partial.removesuffix(b"\n").decode("utf-8", errors="replace")
                partial = b""
                continue
            if chunk:  # the end of the file for now, in the middle of a line: look once more
                continue
            if draining or not follow:
                if partial:
                    yield partial.decode("utf-8", errors="replace")
                return
            # What was written before the task finished is all there: read to the end once more.
            draining = finished()
            if not draining:
                time.sleep(_FOLLOW_INTERVAL)
