"""Where a finished run's outputs are, for the line `flow run` ends with.

A task served from the cache wrote nothing in this run: its artifacts are those of the run that made them,
in that run's folder of the root (as on Kubeflow, where a cached task's artifacts are the earlier
execution's). So the line names the run's own folder when a task of it ran, and the folder of each run
whose outputs it reused, with the cached tasks that reused them.
"""

from __future__ import annotations

from runner import api, layout
from runner.store import TaskState

_NAMED_TASKS = 3  # of a folder's cached tasks; more are counted


def outputs_line(result: api.RunResult) -> str:
    """`outputs are under ROOT/RUN, ROOT/EARLIER (cached: train)`, or, for a root elsewhere, the folders
    under it and how to copy a run's files here."""
    folders = _folders(result)
    if not folders:
        cached = any(t.state == TaskState.CACHED for t in result.tasks.values())
        return "this run wrote no files" + (": its tasks' outputs came from the cache" if cached else "")
    if result.root.startswith("/"):
        return "outputs are under " + ", ".join(
            f"{result.root}/{run_id}{_cached(tasks)}" for run_id, tasks in folders.items()
        )
    shown = ", ".join(f"{run_id}/{_cached(tasks)}" for run_id, tasks in folders.items())
    return (
        f"outputs are in {result.root} under {shown} "
        f"(flow artifacts {next(iter(folders))} --download DIR copies a run's files here)"
    )


def _folders(result: api.RunResult) -> dict[str, list[str]]:
    """The runs whose folders hold this run's outputs: this one when a task of it ran, then each earlier
    one a cached task's artifacts are in, with those tasks (none for this run)."""
    folders: dict[str, list[str]] = {}
    if any(task.attempts > 0 for task in result.tasks.values()):
        folders[result.run_id] = []
    for task in result.tasks.values():
        for artifact in task.artifacts.values():
            if layout.is_external(artifact.uri):
                continue  # an imported file or object, never in a run's folder
            made_by = artifact.uri.split("/", 1)[0]
            if made_by != result.run_id and task.path not in folders.setdefault(made_by, []):
                folders[made_by].append(task.path)
    return folders


def _cached(tasks: list[str]) -> str:
    if not tasks:
        return ""
    named = ", ".join(tasks[:_NAMED_TASKS])
    more = len(tasks) - _NAMED_TASKS
    return f" (cached: {named}{f' and {more} more' if more > 0 else ''})"
