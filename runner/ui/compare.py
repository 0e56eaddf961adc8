"""Several runs side by side: their parameters, pipeline outputs and scalar metrics, each row saying whether
the runs differ on it."""

from __future__ import annotations

from typing import Any

from runner.errors import UsageError
from runner.store import RunRecord, Store
from runner.ui import shapes

METRICS_TYPE = "system.Metrics"
MOST_RUNS = 20  # columns a page can still show side by side


def metrics(store: Store, run_id: str) -> dict[str, Any]:
    """A run's scalar metrics by "task-path/artifact: metric"."""
    found: dict[str, Any] = {}
    for art in store.artifacts(run_id):
        if art.type != METRICS_TYPE:
            continue
        for name, value in art.metadata.items():
            if isinstance(value, int | float | str | bool):
                found[f"{art.task_path}/{art.name}: {name}"] = value
    return found


def _rows(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per name any run has: its value in each run (None where a run has none)."""
    missing = object()
    names = sorted(set().union(*(column.keys() for column in columns)))
    rows = []
    for name in names:
        values = [column.get(name, missing) for column in columns]
        rows.append(
            {
                "name": name,
                "values": [None if value is missing else value for value in values],
                "same": all(value == values[0] for value in values),
            }
        )
    return rows


def compare(store: Store, run_ids: list[str]) -> dict[str, Any]:
    """The runs `run_ids` (2 to MOST_RUNS, each once) compared; an unknown id raises RunNotFoundError."""
    unique = list(dict.fromkeys(run_ids))
    if not 2 <= len(unique) <= MOST_RUNS:
        raise UsageError(f"compare 2 to {MOST_RUNS} different runs, not {len(unique)}")
    records: list[RunRecord] = [store.run(run_id) for run_id in unique]
    outputs = [(record.outputs or {}).get("parameters") or {} for record in records]
    return {
        "runs": [shapes.run_summary(record) for record in records],
        "params": _rows([record.params for record in records]),
        "outputs": _rows(outputs),
        "metrics": _rows([metrics(store, record.run_id) for record in records]),
    }
