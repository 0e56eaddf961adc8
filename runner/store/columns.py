"""How records map to table rows, and the statements every store runs (written with `?` parameters)."""

from __future__ import annotations

import enum
import functools
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from runner.store.records import ArtifactRecord, RunRecord, RunState, TaskRecord, TaskState

_JSON_FIELDS = {"params", "outputs", "inputs", "metadata"}
R = TypeVar("R", RunRecord, TaskRecord, ArtifactRecord)


@dataclass(frozen=True)
class Columns:
    """Some columns of a record type, and the conversions between records and statement parameters.

    The engine writes rows on every scheduler tick and reads a whole run back at the end: these are on its
    hot path, hence the precomputed getter and positions, and a dict lookup rather than `Enum(value)`.
    """

    names: tuple[str, ...]
    getter: Callable[[Any], tuple[Any, ...]]
    json_positions: tuple[int, ...]
    state_position: int | None
    states: Mapping[str, enum.Enum]  # a state column's text -> the member

    @classmethod
    def of(cls, names: tuple[str, ...], states: type[enum.Enum] | None) -> Columns:
        return cls(
            names=names,
            getter=operator.attrgetter(*names),
            json_positions=tuple(i for i, c in enumerate(names) if c in _JSON_FIELDS),
            state_position=names.index("state") if "state" in names else None,
            states={member.value: member for member in states} if states is not None else {},
        )

    def row(self, record: Any) -> tuple[Any, ...]:
        values = list(self.getter(record))
        for i in self.json_positions:
            values[i] = json.dumps(values[i], sort_keys=True) if values[i] else "{}"
        if self.state_position is not None:
            values[self.state_position] = values[self.state_position]._value_  # .value is a slow property
        return tuple(values)

    def values(self, row: tuple[Any, ...]) -> list[Any]:
        values = list(row)
        for i in self.json_positions:
            text = values[i]
            values[i] = json.loads(text) if text and text != "{}" else {}
        if self.state_position is not None:
            values[self.state_position] = self.states[values[self.state_position]]
        return values


@dataclass(frozen=True)
class Layout:
    """How a record type is stored: all its columns, and the statements that read and write it."""

    columns: Columns
    select: str  # "SELECT <columns> FROM <table>", in field order, so a row builds a record positionally
    # As `select` without its join: a field kept elsewhere is read as the table's own column for it (the
    # pipeline text's digest), which a listing turns into the field once for all its rows.
    select_own: str
    upsert: str  # the statement that writes one record
    insert_new: str  # writes one record unless its key is taken (then changes no row)


def _layout(
    record_type: type,
    table: str,
    key: tuple[str, ...],
    states: type[enum.Enum] | None,
    elsewhere: Mapping[str, tuple[str, str]] | None = None,
    joined: str = "",
) -> Layout:
    """`elsewhere`: fields the table keeps as another column, by name: that column, and the expression that
    reads the field back through `joined`, a join `select` makes."""
    apart = elsewhere or {}
    field_names = tuple(f.name for f in fields(record_type))
    columns = tuple(apart[name][0] if name in apart else name for name in field_names)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    selected = (apart[name][1] if name in apart else f"{table}.{name}" for name in field_names)
    return Layout(
        columns=Columns.of(columns, states),
        select=f"SELECT {', '.join(selected)} FROM {table}{joined}",
        select_own=f"SELECT {', '.join(f'{table}.{column}' for column in columns)} FROM {table}",
        # An upsert, not a delete and insert, so a row keeps its place and listings keep creation order.
        upsert=f"{insert} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
        insert_new=f"{insert} ON CONFLICT ({', '.join(key)}) DO NOTHING",
    )


# A pipeline's text is kept once, under its digest, however many runs it has; a run's row holds the digest.
# A run's row changes as the run goes, and SQLite writes a row's every page again when the row's size
# changes: with the text in it, a 10,000-task pipeline's 1.5 MB were written at each change of the run.
SPEC_TEXT_INSERT = "INSERT INTO spec_texts (digest, spec_text) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING"

LAYOUTS = {
    RunRecord: _layout(
        RunRecord,
        "runs",
        ("run_id",),
        RunState,
        elsewhere={"spec_text": ("spec_digest", "COALESCE(spec_texts.spec_text, '')")},
        joined=" LEFT JOIN spec_texts ON spec_texts.digest = runs.spec_digest",
    ),
    TaskRecord: _layout(TaskRecord, "tasks", ("run_id", "path"), TaskState),
    ArtifactRecord: _layout(ArtifactRecord, "artifacts", ("run_id", "task_path", "name"), None),
}
RUNS, TASKS, ARTIFACTS = LAYOUTS[RunRecord], LAYOUTS[TaskRecord], LAYOUTS[ArtifactRecord]

# A task's identity and place in the graph never change once its row exists; a transition changes only the
# rest. Of those, the JSON columns cost an encoding and the cache key an index update each time they are
# written, and most transitions leave them as they were: an engine writes them only when they changed.
_TASK_FIXED = ("run_id", "path", "name", "component", "kind", "parent")
TASK_CHANGEABLE = tuple(c for c in TASKS.columns.names if c not in _TASK_FIXED)
TASK_COSTLY = ("inputs", "outputs", "cache_key", "component_digest")
TASK_CHEAP = tuple(c for c in TASK_CHANGEABLE if c not in TASK_COSTLY)


@functools.lru_cache(maxsize=64)
def task_update(names: tuple[str, ...]) -> tuple[str, Columns]:
    """The statement that sets these columns of a task's row, and the columns of its parameters."""
    fixed = set(names) - set(TASK_CHANGEABLE)
    if fixed:  # the names are put into SQL, and a row's identity is written only when it is made
        raise ValueError(f"not changeable task columns: {sorted(fixed)}")
    sql = f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in names)} WHERE run_id = ? AND path = ?"
    return sql, Columns.of((*names, "run_id", "path"), TaskState)


# What an engine changes in the run it drives; the rest, such as the pipeline's text, is written once.
RUN_CHANGES = Columns.of(
    ("state", "started_at", "finished_at", "error", "outputs", "engine_pid", "engine_host", "run_id"),
    RunState,
)
RUN_UPDATE = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in RUN_CHANGES.names[:-1])} WHERE run_id = ?"


@functools.lru_cache(maxsize=16)
def projection(names: tuple[str, ...]) -> Columns:
    unknown = set(names) - set(TASKS.columns.names)
    if unknown:  # the names are put into SQL: only TaskRecord's fields are allowed
        raise ValueError(f"not task columns: {sorted(unknown)}")
    return Columns.of(names, TaskState)


def from_row(record_type: type[R], row: tuple[Any, ...]) -> R:
    """The record of a row selected with its layout's `select`."""
    return record_type(*LAYOUTS[record_type].columns.values(row))
