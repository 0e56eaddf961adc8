"""`flow runs`, `show`, `logs`, `artifacts` and `ui`: what the store and the pipeline roots hold."""

from __future__ import annotations

import codecs
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from backends.base import BackendError
from runner import api, layout, tasklogs
from runner.cli import format as fmt
from runner.cli import records
from runner.cli.backendoptions import BackendOptionsCommand, backend_option_values
from runner.cli.common import reports_errors
from runner.cli.completion import complete_runs, complete_tasks
from runner.cli.moments import moment
from runner.config import load_config
from runner.errors import UsageError
from runner.inputnames import shown_inputs
from runner.runs.runsession import record_abandoned
from runner.store import RunRecord, RunState, Store, TaskRecord
from runner.suggestions import did_you_mean
from runner.tasklogs import RunLogs
from runner.ui import DEFAULT_HOST, DEFAULT_PORT

_RUN_STATES = [state.value for state in RunState]
_LINE_PIECES = re.compile(r"[^\n]*\n|[^\n]+")  # each line with its end, and what follows the last


@click.command()
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(_RUN_STATES, case_sensitive=False),
    help="Only runs in this state (repeat for several).",
)
@click.option("--pipeline", help="Only runs of the pipeline with this name.")
@click.option(
    "--since",
    metavar="AGE|DATE",
    help="Only runs created since then: an age such as 30m, 2h or 7d, or an ISO date or time.",
)
@fmt.output_option
@reports_errors
def runs(limit: int, states: tuple[str, ...], pipeline: str | None, since: str | None, output: str) -> None:
    """List runs, newest first."""
    after = moment(since, "--since") if since is not None else None
    with api.open_store() as store:
        found = store.runs(
            limit, states=[RunState(s.upper()) for s in states], pipeline=pipeline, since=after
        )
        record_abandoned(store, found)
    if output in fmt.MACHINE_OUTPUTS:
        fmt.emit([records.run_json(record) for record in found], output)
        return
    columns = ["run", "pipeline", "backend", "state", "started", "duration"]
    if output == "wide":
        columns += ["finished", "root", "engine", "error"]
    rows = []
    for record in found:
        rerun = f" (rerun of {record.rerun_of} {record.rerun_task})" if record.rerun_of else ""
        row = [
            record.run_id,
            record.pipeline + rerun,
            record.backend,
            record.state.value,
            fmt.when(record.started_at or record.created_at),
            fmt.duration(record.duration),
        ]
        if output == "wide":
            engine = f"{record.engine_host or '-'}:{record.engine_pid}" if record.engine_pid else "-"
            error = record.error.splitlines()[0] if record.error else "-"
            row += [fmt.when(record.finished_at), record.root, engine, error]
        rows.append(row)
    fmt.table(columns, rows, fit=output != "wide")


@click.command()
@click.argument("run_id", metavar="[RUN]", default="latest", shell_complete=complete_runs)
@fmt.output_option
@reports_errors
def show(run_id: str, output: str) -> None:
    """Show a run's tasks: state, attempts, duration, inputs and outputs. RUN is a run id, a unique prefix
    of one, or "latest" (the default)."""
    with api.open_store() as store:
        record = store.run(run_id)
        record_abandoned(store, [record])
        tasks = store.tasks(record.run_id)
        arts = store.artifacts(record.run_id)
        artifact_uris = {art.uri for art in arts}
        if record.rerun_of:  # its task's inputs are the earlier run's artifacts
            artifact_uris.update(art.uri for art in store.artifacts(record.rerun_of))
    if output in fmt.MACHINE_OUTPUTS:
        fmt.emit(records.run_json(record, tasks, arts, artifact_uris), output)
        return
    fmt.line(
        f"run {record.run_id}  {record.pipeline}  {record.state.value}  backend {record.backend}"
        f"  started {fmt.when(record.started_at)}  took {fmt.duration(record.duration)}"
    )
    limit = 200 if fmt.on_terminal() and output != "wide" else None
    fmt.line(f"root {record.root}  params {fmt.values(record.params, limit) or '-'}")
    if record.rerun_of:
        fmt.line(f"rerun of run {record.rerun_of} task {record.rerun_task}")
    if record.error:
        fmt.line(f"error: {record.error.splitlines()[0]}", "red")
    fmt.table(*_task_table(record, tasks, artifact_uris, wide=output == "wide"), fit=output != "wide")
    outputs = record.outputs or {}
    for name, value in (outputs.get("parameters") or {}).items():
        fmt.line(f"output {name} = {json.dumps(value)}")
    for name, uris in (outputs.get("artifacts") or {}).items():
        fmt.line(f"artifact {name}: {', '.join(layout.full_uri(record.root, uri) for uri in uris)}")


def _task_table(
    record: RunRecord, tasks: list[TaskRecord], artifact_uris: set[str], wide: bool
) -> tuple[list[str], list[list[str]]]:
    columns = ["task", "state", "attempts", "duration", "inputs", "outputs", "peak mem", "cpu", "component"]
    if wide:
        columns += ["kind", "started", "finished", "exit", "reason", "cache key", "image", "container"]
        from runner.engine.attempts import container_name  # the engine's module, loaded for wide only

        images = records.images(record.spec_text)
    limit = 60 if fmt.on_terminal() and not wide else None  # whole when piped, or wide
    rows = []
    for task in tasks:
        cpu = "-" if task.cpu_seconds is None else f"{task.cpu_seconds:.2f}s"
        row = [
            task.path,
            task.state.value,
            str(task.attempts),
            fmt.duration(task.duration),
            fmt.values(shown_inputs(records.task_inputs(record.root, task, artifact_uris)), limit),
            fmt.values(task.outputs, limit),
            fmt.size(task.peak_memory_bytes),
            cpu,
            fmt.digest(task.component_digest),
        ]
        if wide:
            ran = task.kind == "container" and task.attempts > 0
            row += [
                task.kind,
                fmt.when(task.started_at),
                fmt.when(task.finished_at),
                "-" if task.exit_code is None else str(task.exit_code),
                task.reason or "-",
                fmt.digest(task.cache_key),
                images.get(task.component, "-") if task.kind == "container" else "-",
                container_name(record.run_id, task.path, task.attempts) if ran else "-",
            ]
        rows.append(row)
    return columns, rows


@click.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.argument("task", required=False, shell_complete=complete_tasks)
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the task runs.")
@click.option(
    "--attempt",
    type=click.IntRange(min=1),
    metavar="N",
    help="The task's attempt N (counted from 1) [default: its last].",
)
@click.option("--all", "all_attempts", is_flag=True, help="Every attempt, each after a header line.")
@fmt.output_option
@reports_errors
def logs(
    run_id: str,
    task: str | None,
    follow: bool,
    attempt: int | None,
    all_attempts: bool,
    output: str,
) -> None:
    """Print a task's output (every task's when TASK is left out), of its last attempt unless --attempt or
    --all says otherwise. With -o wide each line starts with its task and attempt (`[train#2]`); with -o
    json or yaml, each attempt's log is one record."""
    if attempt is not None and all_attempts:
        raise UsageError("choose one of --attempt and --all", "flow logs")
    if follow and output in fmt.MACHINE_OUTPUTS:
        raise UsageError(f"--follow prints as the task writes, -o {output} prints whole logs", "flow logs")
    with api.open_store() as store:
        record = store.run(run_id)
        tasks = [t for t in store.tasks(record.run_id) if t.log_path]
        if task is not None:
            tasks = [_find_task(tasks, task, record.run_id)]
        shown = [(item, number) for item in tasks for number in _attempts(item, attempt, all_attempts)]
        # flow.yaml's image map and pull policy serve a cluster's volume helper, where a log is on a volume.
        config = load_config()
        with RunLogs(record, config.backend) as run_logs:
            if output in fmt.MACHINE_OUTPUTS:
                fmt.emit([_log_json(run_logs, item, number) for item, number in shown], output)
                return
            for item, number in shown:
                if all_attempts or len(tasks) > 1:
                    click.echo(f"==> {item.path} (attempt {number} of {item.attempts}) <==")
                prefix = f"[{item.path}#{number}] " if output == "wide" else ""
                _print_log(store, run_logs, item, number, follow and number == item.attempts, prefix)


def _attempts(task: TaskRecord, attempt: int | None, all_attempts: bool) -> list[int]:
    """The attempts of `task` to show, by number."""
    last = max(task.attempts, 1)
    if all_attempts:
        return list(range(1, last + 1))
    if attempt is None:
        return [last]
    if attempt > last:
        raise UsageError(
            f"task {task.path} has {last} attempt{'s' if last > 1 else ''}, not {attempt}", "--attempt"
        )
    return [attempt]


def _attempt_log(task: TaskRecord, number: int) -> str:
    """Where the log of the task's attempt `number` is: beside its last attempt's (runner.engine.attempts
    names each attempt's log after its number)."""
    if number == task.attempts:
        return task.log_path
    folder, _, name = task.log_path.rpartition("/")
    return f"{folder}/attempt-{number}.log" if name == f"attempt-{task.attempts}.log" else ""


def _find_task(tasks: list[TaskRecord], wanted: str, run_id: str) -> TaskRecord:
    by_path = [t for t in tasks if t.path == wanted]
    by_name = [t for t in tasks if t.name == wanted]
    matches = by_path or by_name
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = {name for task in tasks for name in (task.path, task.name)}
        hint = did_you_mean(wanted, known)
        raise UsageError(f"run {run_id} has no task {wanted!r} with logs{hint}", "flow logs")
    paths = ", ".join(t.path for t in matches)
    raise UsageError(f"task name {wanted!r} is ambiguous, use its path: {paths}", "flow logs")


def _log_json(run_logs: RunLogs, task: TaskRecord, number: int) -> dict[str, Any]:
    parts: list[str] = []
    _read_log(run_logs, task, _attempt_log(task, number), parts.append)
    return {
        "task": task.path,
        "attempt": number,
        "attempts": task.attempts,
        "state": task.state.value if number == task.attempts else "FAILED",
        "log": "".join(parts),
    }


def _read_log(run_logs: RunLogs, task: TaskRecord, log_path: str, write: Callable[[str], Any]) -> None:
    """Write the whole log at `log_path`."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    _read_from(run_logs, task, log_path, 0, decoder, write)
    write(decoder.decode(b"", final=True))


def _read_from(
    run_logs: RunLogs,
    task: TaskRecord,
    log_path: str,
    offset: int,
    decoder: codecs.IncrementalDecoder,
    write: Callable[[str], Any],
) -> int:
    """Write what the log holds from `offset` on, chunk by chunk (a log may be larger than memory); the new
    offset. A character split between two reads is decoded once its end is read."""
    while True:
        try:
            chunk = run_logs.read(log_path, offset)
        except BackendError as exc:
            raise UsageError(f"cannot read the log of {task.path}: {exc}", "flow logs") from None
        offset += len(chunk)
        write(decoder.decode(chunk))
        if len(chunk) < tasklogs.CHUNK:
            return offset


def _print_log(
    store: Store, run_logs: RunLogs, task: TaskRecord, number: int, follow: bool, prefix: str
) -> None:
    log_path = _attempt_log(task, number)
    offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    write = _Prefixed(prefix) if prefix else sys.stdout.write
    while True:
        # The state before the read: once it says finished, the reads below reach the end of the log.
        current = store.task(task.run_id, task.path) if follow else None
        offset = _read_from(run_logs, task, log_path, offset, decoder, write)
        if current is None or current.state.finished or current.log_path != log_path:
            write(decoder.decode(b"", final=True))
            sys.stdout.flush()
            return
        sys.stdout.flush()
        time.sleep(0.5)


class _Prefixed:
    """Writes text to stdout with `prefix` at the start of each line, across writes."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.at_line_start = True

    def __call__(self, text: str) -> None:
        shown = []
        for piece in _LINE_PIECES.findall(text):
            if self.at_line_start:
                shown.append(self.prefix)
            shown.append(piece)
            self.at_line_start = piece.endswith("\n")
        sys.stdout.write("".join(shown))


@click.command(cls=BackendOptionsCommand, backend_fields=("image_map", "pull"))
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.option(
    "--download",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Copy the run's files into DIR (from a cluster's volume through a short-lived pod).",
)
@fmt.output_option
@reports_errors
def artifacts(run_id: str, download: Path | None, output: str, backend_settings: dict[str, Any]) -> None:
    """List a run's artifacts with their URIs (their full address under the run's root, an imported one's
    as given) and sizes; with --download, copy the run's files (on a cluster, out of its volume) into a
    local folder: an imported artifact outside the run's folder is not among them."""
    with api.open_store() as store:
        record = store.run(run_id)
        if download is not None:
            count = api.download(record, download, backend_option_values(backend_settings))
            click.echo(f"copied {count} files of run {record.run_id} from {record.root} to {download}")
            return
        arts = store.artifacts(record.run_id)
    if output in fmt.MACHINE_OUTPUTS:
        listed = [
            {"task": a.task_path, "name": a.name, **records.artifact_json(record.root, a)} for a in arts
        ]
        fmt.emit({"run_id": record.run_id, "root": record.root, "artifacts": listed}, output)
        return
    columns = ["task", "name", "type", "size", "uri"]
    if output == "wide":
        columns += ["sha256", "metadata"]
    rows = []
    for art in arts:
        row = [art.task_path, art.name, art.type, fmt.size(art.size), layout.full_uri(record.root, art.uri)]
        if output == "wide":
            row += [art.digest or "-", fmt.values(art.metadata, None) or "-"]
        rows.append(row)
    fmt.line(f"root {record.root}")
    fmt.table(columns, rows, fit=output != "wide")


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
