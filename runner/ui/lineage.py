"""Artifact lineage: which tasks consumed each artifact of a run (its record names the task that made it)."""

from __future__ import annotations

from runner.store import TaskRecord


def consumers(tasks: list[TaskRecord]) -> dict[str, list[str]]:
    """The paths of the tasks that took each artifact URI as an input; a task records an input artifact as
    the list of the URIs it was given."""
    found: dict[str, list[str]] = {}
    for task in tasks:
        for value in task.inputs.values():
            if isinstance(value, list) and all(isinstance(uri, str) for uri in value):
                for uri in dict.fromkeys(value):
                    found.setdefault(uri, []).append(task.path)
    return found
