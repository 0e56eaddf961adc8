"""The UI's one connection to the store, shared by the request threads, and the pipelines of its runs."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

from runner.spec import PipelineSpec, load_text
from runner.store import Store

T = TypeVar("T")


class StoreReader:
    """Serialises the UI's reads: one SQLite connection must not run two statements at once."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self._store: Store | None = None
        self._lock = threading.Lock()

    def read(self, query: Callable[[Store], T]) -> T:
        with self._lock:
            if self._store is None:
                # Opened on first use, in a request thread: the store's constructor may wait for a migration.
                self._store = self._open_store()
            return query(self._store)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@functools.lru_cache(maxsize=64)
def run_spec(run_id: str, spec_text: str, source: str) -> PipelineSpec:
    """A run's pipeline as it ran: recorded once per run and never changed, so parsed once."""
    return load_text(spec_text, source)
