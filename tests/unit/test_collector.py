"""runner.engine.collector.YoungOnly: the cyclic collector is as it was once the engine is done."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from runner.engine.collector import YOUNG_OBJECTS, YoungOnly


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_automatic_collection_is_off_inside_and_on_again_after() -> None:
    with YoungOnly():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_tick_frees_young_garbage_cycles_and_freezes_the_survivors() -> None:
    with YoungOnly() as collector:
        garbage = weakref.ref(Cycle())
        survivors = [[] for _ in range(YOUNG_OBJECTS)]
        assert garbage() is not None  # no automatic collection
        collector.tick()
        assert garbage() is None
        assert gc.get_freeze_count() >= len(survivors)
    assert gc.get_freeze_count() == 0


def test_it_leaves_a_disabled_collector_alone() -> None:
    gc.disable()
    with YoungOnly() as collector:
        for _ in range(YOUNG_OBJECTS):
            Cycle()
        collector.tick()
        assert gc.get_freeze_count() == 0
    assert not gc.isenabled()
