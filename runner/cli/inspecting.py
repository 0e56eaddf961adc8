"""`flow runs`, `show`, `logs`, `artifacts` and `ui`: what the store and the pipeline roots hold."""

from __future__ import annotations

import codecs
import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from backends.base import BackendError
from runner import api, tasklogs
from runner.cli import format as fmt
from runner.cli.backendoptions import BackendOptionsCommand, backend_option_values
from runner.cli.common import reports_errors
from runner.cli.completion import complete_runs, complete_tasks
from runner.config import load_config
from runner.errors import UsageError
from runner.runs.runsession import record_abandoned
from runner.store import RunRecord, Store, TaskRecord
from runner.tasklogs import RunLogs
from runner.ui import DEFAULT_HOST, DEFAULT_PORT


@click.command()
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@reports_errors
def runs(limit: int) -> None:
    """List runs, newest first."""
    with api.open_store() as store:
        table = Table(box=None)
        for column in ("run", "pipeline", "backend", "state", "started", "duration"):
            table.add_column(column)
        records = store.runs(limit)
        record_abandoned(store, records)
        for record in records:
            rerun = f" (rerun of {record.rerun_of} {record.rerun_task})" if record.rerun_of else ""
            table.add_row(
                record.run_id,
                record.pipeline + rerun,
                record.backend,
                record.state.value,
                fmt.when(record.started_at or record.created_at),
                fmt.duration(record.duration),
            )
        Console().print(table)


@click.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@reports_errors
def show(run_id: str, output: str) -> None:
    """Show a run's tasks: state, attempts, duration, inputs and outputs. RUN may be "latest"."""
    with api.open_store() as store:
        record = store.run(run_id)
        record_abandoned(store, [record])
        tasks = store.tasks(record.run_id)
        arts = store.artifacts(record.run_id)
    if output == "json":
        click.echo(json.dumps(_run_json(record, tasks, arts), indent=2, default=str))
        return
    console = Console()
    console.print(
        f"run {record.run_id}  {record.pipeline}  [bold]{record.state.value}[/]  backend {record.backend}"
        f"  started {fmt.when(record.started_at)}  took {fmt.duration(record.duration)}"
    )
    console.print(f"root {record.root}  params {fmt.values(record.params, 200) or '-'}")
    if record.rerun_of:
        console.print(f"rerun of run {record.rerun_of} task {record.rerun_task}")
    if record.error:
        console.print(f"[red]error:[/] {record.error.splitlines()[0]}")
    table = Table(box=None)
    for column in ("task", "state", "attempts", "duration", "inputs", "outputs", "peak mem", "cpu"):
        table.add_column(column)
    table.add_column("component", no_wrap=True, min_width=12)  # a digest cut short names no version
    for task in tasks:
        cpu = "-" if task.cpu_seconds is None else f"{task.cpu_seconds:.2f}s"
        table.add_row(
            task.path,
            task.state.value,
            str(task.attempts),
            fmt.duration(task.duration),
            fmt.values(task.inputs),
            fmt.values(task.outputs),
            fmt.size(task.peak_memory_bytes),
            cpu,
            fmt.digest(task.component_digest),
        )
    console.print(table)
    outputs = record.outputs or {}
    for name, value in (outputs.get("parameters") or {}).items():
        console.print(f"output {name} = {json.dumps(value)}")
    for name, uris in (outputs.get("artifacts") or {}).items():
        console.print(f"artifact {name}: {', '.join(uris)}")


def _run_json(record: RunRecord, tasks: list[TaskRecord], arts: list[Any]) -> dict[str, Any]:
    outputs = record.outputs or {}
    return {
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "pipeline_file": record.pipeline_file,
        "backend": record.backend,
        "state": record.state.value,
        "root": record.root,
        "params": record.params,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
        "error": record.error,
        "rerun_of": {"run": record.rerun_of, "task": record.rerun_task} if record.rerun_of else None,
        "outputs": {
            "parameters": outputs.get("parameters") or {},
            "artifacts": {
                name: [f"{record.root.rstrip('/')}/{uri}" for uri in uris]
                for name, uris in (outputs.get("artifacts") or {}).items()
            },
        },
        "tasks": [
            {
                "path": t.path,
                "name": t.name,
                "component": t.component,
                "kind": t.kind,
                "state": t.state.value,
                "attempts": t.attempts,
                "started_at": t.started_at,
                "finished_at": t.finished_at,
                "duration": t.duration,
                "inputs": t.inputs,
                "outputs": t.outputs,
                "error": t.error,
                "exit_code": t.exit_code,
                "reason": t.reason,
                "peak_memory_bytes": t.peak_memory_bytes,
                "cpu_seconds": t.cpu_seconds,
                "component_digest": t.component_digest,
                "artifacts": {
                    a.name: {
                        "uri": a.uri,
                        "type": a.type,
                        "size": a.size,
                        "sha256": a.digest,
                        "metadata": a.metadata,
                    }
                    for a in arts
                    if a.task_path == t.path
                },
            }
            for t in tasks
        ],
    }


@click.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.argument("task", required=False, shell_complete=complete_tasks)
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the task runs.")
@reports_errors
def logs(run_id: str, task: str | None, follow: bool) -> None:
    """Print a task's output (every task's when TASK is left out)."""
    with api.open_store() as store:
        record = store.run(run_id)
        tasks = [t for t in store.tasks(record.run_id) if t.log_path]
        if task is not None:
            tasks = [_find_task(tasks, task, record.run_id)]
        # flow.yaml's image map and pull policy serve a cluster's volume helper, where a log is on a volume.
        config = load_config()
        with RunLogs(record, config.backend) as run_logs:
            for item in tasks:
                if len(tasks) > 1:
                    click.echo(f"==> {item.path} (attempt {item.attempts}) <==")
                _print_log(store, run_logs, item, follow)


def _find_task(tasks: list[TaskRecord], wanted: str, run_id: str) -> TaskRecord:
    by_path = [t for t in tasks if t.path == wanted]
    by_name = [t for t in tasks if t.name == wanted]
    matches = by_path or by_name
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"run {run_id} has no task {wanted!r} with logs", "flow logs")
    paths = ", ".join(t.path for t in matches)
    raise UsageError(f"task name {wanted!r} is ambiguous, use its path: {paths}", "flow logs")


def _print_log(store: Store, run_logs: RunLogs, task: TaskRecord, follow: bool) -> None:
    offset = 0
    # A character may be split between two chunks: decoded as one all the same.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        # The state before the read: once it says finished, the reads below reach the end of the log.
        current = store.task(task.run_id, task.path) if follow else None
        while True:
            try:
                chunk = run_logs.read(task.log_path, offset)
            except BackendError as exc:
                raise UsageError(f"cannot read the log of {task.path}: {exc}", "flow logs") from None
            offset += len(chunk)
            sys.stdout.write(decoder.decode(chunk))
            if len(chunk) < tasklogs.CHUNK:
                break
        sys.stdout.flush()
        if current is None or current.state.finished or current.log_path != task.log_path:
            sys.stdout.write(decoder.decode(b"", final=True))
            sys.stdout.flush()
            return
        time.sleep(0.5)


@click.command(cls=BackendOptionsCommand, backend_fields=("image_map", "pull"))
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.option(
    "--download",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Copy the run's files into DIR (from a cluster's volume through a short-lived pod).",
)
@reports_errors
def artifacts(run_id: str, download: Path | None, backend_settings: dict[str, Any]) -> None:
    """List a run's artifacts with their URIs (relative to the run's root, an imported one outside it as
    given) and sizes; with --download, copy the run's files (on a cluster, out of its volume) into a local
    folder: an imported artifact outside the run's folder is not among them."""
    with api.open_store() as store:
        record = store.run(run_id)
        if download is not None:
            count = api.download(record, download, backend_option_values(backend_settings))
            click.echo(f"copied {count} files of run {record.run_id} from {record.root} to {download}")
            return
        table = Table(box=None)
        for column in ("task", "name", "type", "size", "uri"):
            table.add_column(column)
        for art in store.artifacts(record.run_id):
            table.add_row(art.task_path, art.name, art.type, fmt.size(art.size), art.uri)
        console = Console()
        console.print(f"root {record.root}")
        console.print(table)


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 takes a free one.",
)
@click.option(
    "--token",
    envvar="FLOW_UI_TOKEN",
    help="The token every request must carry, best given as $FLOW_UI_TOKEN: other users can read a command "
    "line, not the environment [default: one made up and printed].",
)
@click.option(
    "--no-token",
    is_flag=True,
    help="Require no token (loopback only): every user of this machine may then run code as you through it.",
)
@reports_errors
def ui(host: str, port: int, token: str | None, no_token: bool) -> None:
    """Serve a web page to watch runs, read logs, look at artifacts and start runs; Ctrl-C stops it.

    Open the address it prints: it carries the token that every request needs.
    """
    from runner.ui.server import Address, serve, token_for

    required = token_for(host, token, no_token)
    api.open_store().close()  # a store that cannot be opened is reported here, not on the first page load

    def announce(address: Address) -> None:
        click.echo(f"flow ui: {address.url()}")
        if required is None:
            warning = "no token, so every user of this machine can use this UI and run code as you"
            click.echo(f"flow ui: warning: {warning}", err=True)

    serve(host, port, required, announce)
