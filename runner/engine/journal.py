"""What the engine changed since it last saved: task and artifact records, written in one transaction."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from runner.store import ArtifactRecord, Store, TaskRecord
from runner.store.columns import TASK_CHEAP, TASK_COSTLY

ChangeListener = Callable[[TaskRecord], None]

_costly_values = operator.attrgetter(*TASK_COSTLY)
_ALL_COSTLY = range(len(TASK_COSTLY))


class Journal:
    """Collects the records of a run's transitions until `save` commits them all at once.

    The engine saves once per scheduler tick, before it submits anything, so every transition is in the
    store before the engine acts on it. A task's first save writes its whole row; later saves write the
    cheap columns, and the costly ones (JSON, the indexed cache key) only when they differ from what this
    engine last gave the store, which is cheaper on the engine's hot path.
    """

    def __init__(self, store: Store, on_change: ChangeListener | None) -> None:
        self.store = store
        self.on_change = on_change
        self._new: dict[str, TaskRecord] = {}  # path -> a record not in the store yet
        self._changed: dict[str, TaskRecord] = {}  # path -> a record in the store that changed since
        self._artifacts: list[ArtifactRecord] = []
        # Everything saved so far, as the store has it and in its order (an upsert keeps a row's place).
        self.saved_tasks: dict[str, TaskRecord] = {}
        self.saved_artifacts: dict[tuple[str, str], ArtifactRecord] = {}  # by (task path, name)
        # path -> the costly fields of the record as this engine last saved them (the engine replaces a
        # record's dicts rather than changing them in place). A record an earlier engine saved has none:
        # all its columns are written.
        self._saved: dict[str, tuple[Any, ...]] = {}

    def created(self, record: TaskRecord) -> None:
        """A record this engine made, to be saved whole (it may replace one an earlier engine saved)."""
        self._new[record.path] = record
        if self.on_change is not None:
            self.on_change(record)

    def changed(self, record: TaskRecord) -> None:
        """A record that is in the store, or was `created` since the last save, changed."""
        if record.path not in self._new:
            self._changed[record.path] = record
        if self.on_change is not None:
            self.on_change(record)

    def artifacts(self, records: Iterable[ArtifactRecord]) -> None:
        self._artifacts.extend(records)

    def save(self) -> None:
        if not (self._new or self._changed or self._artifacts):
            return
        saved = self._saved
        for path, record in self._new.items():
            saved[path] = _costly_values(record)
        # One statement for all the changed records: the cheap columns, and the costly ones any of them
        # changed since its last save. (Were the commit to fail, the engine stops: its snapshots go too.)
        costly: set[int] = set()
        for path, record in self._changed.items():
            values = _costly_values(record)
            before = saved.get(path)
            if values != before:
                saved[path] = values
                if before is None:
                    costly.update(_ALL_COSTLY)
                else:
                    costly.update(
                        i for i, (now, then) in enumerate(zip(values, before, strict=True)) if now != then
                    )
        names = TASK_CHEAP + tuple(TASK_COSTLY[i] for i in sorted(costly)) if costly else TASK_CHEAP
        updates = {names: self._changed.values()} if self._changed else {}
        self.store.save_progress(self._new.values(), updates, self._artifacts)
        self.saved_tasks.update(self._new)
        for artifact in self._artifacts:
            self.saved_artifacts[artifact.task_path, artifact.name] = artifact
        self._new.clear()
        self._changed.clear()
        self._artifacts.clear()
