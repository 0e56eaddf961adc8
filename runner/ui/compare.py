"""Two runs side by side: their parameters, pipeline outputs and scalar metrics."""

from __future__ import annotations

from typing import Any

from runner.store import RunRecord, Store
from runner.ui import shapes

METRICS_TYPE = "system.Metrics"


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


def _rows(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    missing = object()
    rows = []
    for key in sorted(left.keys() | right.keys()):
        a, b = left.get(key, missing), right.get(key, missing)
        rows.append(
            {
                "name": key,
                "a": None if a is missing else a,
                "b": None if b is missing else b,
                "same": a == b,
            }
        )
    return rows


def compare(store: Store, first: RunRecord, second: RunRecord) -> dict[str, Any]:
    outputs = [(record.outputs or {}).get("parameters") or {} for record in (first, second)]
    return {
        "runs": [shapes.run_summary(first), shapes.run_summary(second)],
        "params": _rows(first.params, second.params),
        "outputs": _rows(outputs[0], outputs[1]),
        "metrics": _rows(metrics(store, first.run_id), metrics(store, second.run_id)),
    }
