"""What the `flow` commands share: error reporting, backend options, following a run to its end."""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from runner import api
from runner.cli.outputplaces import outputs_line
from runner.cli.progress import Progress
from runner.errors import FlowError
from runner.selection import CLUSTER, LOCAL
from runner.store import RunState

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILED, EXIT_CANCELLED = 1, 130

# The commands that run tasks in this process (run, resume, rerun) print their output with it.
stream_logs_option = click.option(
    "--stream-logs",
    is_flag=True,
    help="Print the tasks' output as it comes, each line after its task's name: [train] epoch 1 ...",
)


def reports_errors(command: F) -> F:
    """Turn flow's errors into one line on stderr and their exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FlowError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def chosen_backend_name(local: bool, cluster: bool, backend: str | None) -> str:
    if backend:
        return backend
    return CLUSTER if cluster else LOCAL


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def notice(message: str) -> None:
    click.echo(message, err=True)


def follow_run(
    start: Callable[[Progress], api.RunResult], run_id: Callable[[], str], progress: Progress | None = None
) -> None:
    """Run with live progress (`progress`, else the default one); Ctrl-C and SIGTERM cancel the run. Exits
    with the run's outcome."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    shown = progress if progress is not None else Progress()
    with shown:
        try:
            result: api.RunResult | None = start(shown)
        except KeyboardInterrupt:
            result = None
    if result is None or result.state == RunState.CANCELLED:
        click.echo(f"run {run_id()} cancelled; its tasks were stopped (flow resume continues it)", err=True)
        sys.exit(EXIT_CANCELLED)
    _summarize(result)
    sys.exit(0 if result.succeeded else EXIT_FAILED)


def _summarize(result: api.RunResult) -> None:
    total = sum(1 for t in result.tasks.values())
    click.echo(f"run {result.run_id} {result.state.value} ({total} tasks)")
    if result.error:
        click.echo(f"error: {result.error}", err=True)
    for name, value in result.outputs.items():
        click.echo(f"  output {name} = {json.dumps(value)}")
    for name, paths in result.artifacts.items():
        shown = ", ".join(_artifact_address(result.root, path) for path in _listed(paths))
        click.echo(f"  artifact {name}: {shown}")
    click.echo(outputs_line(result))


def _listed(paths: Path | list[Path]) -> list[Path]:
    return paths if isinstance(paths, list) else [paths]


def _artifact_address(root: str, path: Path) -> str:
    """A file's path on this machine, or its address under a root elsewhere (pvc://, s3://), which a Path
    would print with one slash."""
    if root.startswith("/"):
        return str(path)
    return f"{root.rstrip('/')}/{path.relative_to(Path(root)).as_posix()}"
