"""Keeping Python's cyclic garbage collector off a run's long-lived state while the engine drives it.

Why: the nodes, records and attempt specs of a run live until it ends, and CPython's generational collector
traverses them again in every pass over the older generations. On a large run several such passes happen, each
over the whole run's state: a large share of the engine's time. So while the engine runs, automatic collection
is off and the engine collects by hand: once enough objects were made since the last time, the youngest
generation is collected (which frees the garbage cycles among them) and what survived is frozen (moved to the
permanent generation, which no pass looks at; O(1)). No object is examined twice. The graph the engine opens
at the start, and what existed before the run, are frozen without being examined at all: they live until the
run ends, so a collection would find nothing to free among them. Afterwards everything frozen goes back to the
oldest generation and automatic collection resumes: the collector is as it was, with the run's objects in it.
"""

from __future__ import annotations

import gc
from types import TracebackType

# New objects (net of those freed) between collections. Near the default threshold (700): objects examined
# soon after they were made are still in the CPU caches, which makes the pass cheaper per object.
YOUNG_OBJECTS = 2_000


class YoungOnly:
    """A context manager; `tick()` once per scheduler tick collects and freezes when it is time to.

    It does nothing when the collector is already off or objects are already frozen: it could not restore
    that state afterwards (unfreezing returns every frozen object, not only its own).
    """

    def __init__(self) -> None:
        self._active = False

    def __enter__(self) -> YoungOnly:
        self._active = gc.isenabled() and gc.get_freeze_count() == 0
        if self._active:
            gc.disable()
        return self

    def keep(self) -> None:
        """Freeze every object made so far without examining it: for state just made that lives as long as
        the run (the graph of a DAG just opened), which a collection would examine for nothing."""
        if self._active:
            gc.freeze()

    def tick(self) -> None:
        if self._active and gc.get_count()[0] >= YOUNG_OBJECTS:
            gc.collect(0)
            gc.freeze()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._active:
            gc.unfreeze()
            gc.enable()
