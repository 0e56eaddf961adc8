"""What the engine changed since it last saved: task and artifact records, written in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from runner.store import ArtifactRecord, Store, TaskRecord

ChangeListener = Callable[[TaskRecord], None]


class Journal:
    """Collects the records of a run's transitions until `save` commits them all at once.

    The engine saves once per scheduler tick, before it submits anything, so every transition is in the
    store before the engine acts on it. A task's first save writes its whole row; later saves write only the
    columns a transition can change, which is cheaper on the engine's hot path.
    """

    def __init__(self, store: Store, on_change: ChangeListener | None) -> None:
        self.store = store
        self.on_change = on_change
        self._new: dict[str, TaskRecord] = {}  # path -> a record not in the store yet
        self._changed: dict[str, TaskRecord] = {}  # path -> a record in the store that changed since
        self._artifacts: list[ArtifactRecord] = []

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
        if self._new or self._changed or self._artifacts:
            self.store.save_progress(self._new.values(), self._changed.values(), self._artifacts)
            self._new.clear()
            self._changed.clear()
            self._artifacts.clear()
