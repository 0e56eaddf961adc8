"""`flow run --stream-logs`: the output of the running tasks, line by line, each line with its task's name.

Every backend copies an attempt's output into its log file as it comes (TaskSpec.log_path), and an attempt
the engine reports finished has its whole output there: the files are followed, not the containers.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

READ_BYTES = 1 << 16  # one read of a log
POLL_READS = 16  # reads of one log per poll at most, so that a task that writes fast does not hold up others
LONGEST_LINE = 1 << 14  # characters: a longer line (output without line breaks) is handed on in pieces
POLL_SECONDS = 0.2

# Takes the lines read at once, each with its label: a terminal redraws the live table once per call.
LineSink = Callable[[list[tuple[str, str]]], None]


@dataclass
class _Followed:
    label: str
    offset: int = 0
    pending: str = ""  # the start of a line whose end has not come yet
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )


class LogStream:
    """Follows log files and hands their complete lines to `sink([(label, line), ...])`, in order per file.

    `follow` starts on a file, `finish` reads it to its end and stops; a thread polls the files in between
    (`start`/`close`). A carriage return (a progress bar redrawing its line) keeps what a terminal shows."""

    def __init__(self, sink: LineSink, poll_seconds: float = POLL_SECONDS) -> None:
        self._sink = sink
        self._poll_seconds = poll_seconds
        self._followed: dict[str, _Followed] = {}  # log path -> how far it was read
        self._batch: list[tuple[str, str]] = []  # the lines read, until they are handed on
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flow-stream-logs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop polling; what the followed files hold is handed on, with their unfinished last lines."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            for path in list(self._followed):
                self._finish(path)
            self._hand_on()

    def follow(self, log_path: str, label: str) -> None:
        with self._lock:
            self._followed.setdefault(log_path, _Followed(label))

    def finish(self, log_path: str) -> None:
        """The attempt writing `log_path` ended: hand on the rest of its output."""
        with self._lock:
            if log_path in self._followed:
                self._finish(log_path)
                self._hand_on()

    def poll(self) -> None:
        """Hand on the complete lines written since the last poll."""
        with self._lock:
            for path, followed in self._followed.items():
                self._read(path, followed, POLL_READS)
            self._hand_on()

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self.poll()

    def _finish(self, path: str) -> None:
        followed = self._followed.pop(path)
        self._read(path, followed, None)
        rest = followed.pending + followed.decoder.decode(b"", final=True)
        if rest:
            self._lines(followed, rest + "\n")

    def _read(self, path: str, followed: _Followed, reads: int | None) -> None:
        """Read on from where the last read ended, to the end or `reads` times."""
        try:
            with open(path, "rb") as log:
                log.seek(followed.offset)
                while reads is None or reads > 0:
                    chunk = log.read(READ_BYTES)
                    followed.offset += len(chunk)
                    if chunk:
                        self._lines(followed, followed.pending + followed.decoder.decode(chunk))
                    if len(chunk) < READ_BYTES:
                        return
                    reads = None if reads is None else reads - 1
        except OSError:  # not made yet (the attempt is starting), or gone: nothing to read
            return

    def _lines(self, followed: _Followed, text: str) -> None:
        *complete, followed.pending = text.split("\n")
        while len(followed.pending) > LONGEST_LINE:
            complete.append(followed.pending[:LONGEST_LINE])
            followed.pending = followed.pending[LONGEST_LINE:]
        self._batch.extend((followed.label, line.rstrip("\r").rpartition("\r")[2]) for line in complete)

    def _hand_on(self) -> None:
        if self._batch:
            lines, self._batch = self._batch, []
            self._sink(lines)
