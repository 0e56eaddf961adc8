"""Reading a task's log file, which its backend writes while the task runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

_FOLLOW_INTERVAL = 0.1


def read_lines(path: Path, follow: bool, finished: Callable[[], bool]) -> Iterator[str]:
    """The file's lines; with `follow`, keep reading as it grows until `finished()` and nothing is left."""
    with path.open("rb") as log:
        partial = b""
        while True:
            chunk = log.readline()
            if chunk.endswith(b"\n"):
                yield (partial + chunk[:-1]).decode("utf-8", errors="replace")
                partial = b""
                continue
            partial += chunk
            if not follow or finished():
                rest = partial + log.read()
                if rest:
                    yield from rest.decode("utf-8", errors="replace").splitlines()
                return
            time.sleep(_FOLLOW_INTERVAL)
