"""`flow resume`, `flow rerun`, `flow cancel`, and the engine of a detached run (`flow driver`)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from runner import api
from runner.cli.backendoptions import BackendOptionsCommand, backend_option_values, check_backend_settings
from runner.cli.common import follow_run, notice, reports_errors, stream_logs_option
from runner.cli.completion import complete_backends, complete_runs, complete_tasks
from runner.cli.progress import Progress
from runner.errors import UsageError
from runner.reruns import rerun as rerun_task
from runner.runs.runsession import engine_alive, engine_elsewhere, engine_place
from runner.selection import CLUSTER, LOCAL
from runner.store import RunRecord

_CANCEL_WAIT_SECONDS = 30


@click.command(cls=BackendOptionsCommand)
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.option("--parallelism", type=click.IntRange(min=1), help="Tasks running at once [default: CPU count].")
@click.option("--no-cache", is_flag=True, help="Run every remaining task, even where one could be reused.")
@stream_logs_option
@reports_errors
def resume(
    run_id: str, parallelism: int | None, no_cache: bool, stream_logs: bool, backend_settings: dict[str, Any]
) -> None:
    """Finish an interrupted, failed or cancelled run; tasks that succeeded are not run again."""
    backend_options = backend_option_values(backend_settings)
    with api.open_store() as store:
        from runner.runs import detach

        detach.take_back(store, store.run(run_id))
    click.echo(f"resuming run {run_id}")
    follow_run(
        lambda progress: api.resume(
            run_id,
            parallelism=parallelism,
            on_change=progress.on_change,
            on_event=progress.on_event,
            on_start=progress.started,
            backend_options=backend_options,
            notify=notice,
            cache=not no_cache,
        ),
        lambda: run_id,
        Progress(stream_logs=stream_logs),
    )


@click.command(cls=BackendOptionsCommand)
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@click.argument("task", shell_complete=complete_tasks)
@click.option("--local", "local", is_flag=True, help="Run it on this machine (Docker, else processes).")
@click.option("--cluster", is_flag=True, help="Run it as a Kubernetes pod.")
@click.option("--backend", shell_complete=complete_backends, help="Backend by name [default: the run's own].")
@click.option(
    "--root",
    metavar="FOLDER|s3://BUCKET/PREFIX",
    help="Pipeline root [default: the run's, where the backend can use it].",
)
@click.option(
    "--task-timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Deadline of the task when the pipeline gives it none.",
)
@stream_logs_option
@reports_errors
def rerun(
    run_id: str,
    task: str,
    local: bool,
    cluster: bool,
    backend: str | None,
    root: str | None,
    task_timeout: float | None,
    stream_logs: bool,
    backend_settings: dict[str, Any],
) -> None:
    """Run TASK of the run RUN again, as a new run of that one task, with the input values and artifacts
    it had; exit 0 only when it succeeded. TASK is a task path as `flow show` prints it.

    It runs on the run's backend unless --local, --cluster or --backend says otherwise; input artifacts are
    copied from the run's root when the new run's root is another (a cluster's volume to this machine).
    """
    if local and cluster:
        raise UsageError("choose one of --local and --cluster", "flow rerun")
    backend_name = backend or (CLUSTER if cluster else LOCAL if local else None)
    if backend_name is not None:
        check_backend_settings(backend_settings, backend_name, "flow rerun")
    backend_options = backend_option_values(backend_settings)
    started: list[RunRecord] = []

    def announce(record: RunRecord) -> None:
        started.append(record)
        click.echo(
            f"run {record.run_id}: rerun of run {record.rerun_of} task {record.rerun_task} "
            f"on {record.backend}, root {record.root}"
        )

    follow_run(
        lambda progress: rerun_task(
            run_id,
            task,
            backend=backend_name,
            root=root,
            on_change=progress.on_change,
            on_event=progress.on_event,
            on_start=announce,
            backend_options=backend_options,
            notify=notice,
            task_timeout=task_timeout,
        ),
        lambda: started[0].run_id if started else "?",
        Progress(stream_logs=stream_logs),
    )


@click.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_runs)
@reports_errors
def cancel(run_id: str) -> None:
    """Stop every task of a running run and record it as cancelled."""
    with api.open_store() as store:
        record = store.run(run_id)
        if record.state.finished:
            click.echo(f"run {record.run_id} already finished: {record.state.value}")
            return
        from runner.runs import detach

        if detach.cancel(store, record):
            state = store.run_state(record.run_id).value
            click.echo(f"run {record.run_id} {state}; its driver is removed")
            return
        from runner.runs.cancel import cancel_orphaned

        if engine_alive(record):
            store.request_cancel(record.run_id)
            deadline = time.monotonic() + _CANCEL_WAIT_SECONDS
            while time.monotonic() < deadline and not store.run_state(record.run_id).finished:
                time.sleep(0.2)
            current = store.run(record.run_id)
            if current.state.finished or not engine_elsewhere(current):
                click.echo(f"run {record.run_id} {current.state.value}")
                return
            # An engine on another machine that did not answer may be gone with its machine: its tasks are
            # stopped from here, and should it still live, it finds its run cancelled.
            cancel_orphaned(store, current)
            click.echo(f"run {record.run_id} CANCELLED ({engine_place(current)} did not answer)")
            return
        cancel_orphaned(store, record)
        click.echo(f"run {record.run_id} CANCELLED (its engine was no longer running)")


@click.command(hidden=True)
@click.argument("run_id", metavar="RUN")
@click.option("--settings", default="{}", help="As runner.runs.detach.driver_command writes them (JSON).")
@reports_errors
def driver(run_id: str, settings: str) -> None:
    """The engine of a detached run, in its driver pod: run RUN (or go on with it) to its end.

    Exits 0 once the run has ended, however it ended (the Job must not start it again), else non-zero so
    that the Job starts another driver, which resumes the run.
    """
    from runner.runs.detach import drive

    with Progress() as progress:
        state = drive(run_id, json.loads(settings), on_change=progress.on_change, notify=notice)
    click.echo(f"run {run_id} {state.value}")
