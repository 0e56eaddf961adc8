"""`flow compile` and `flow run`."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runner import api
from runner.cli.backendoptions import (
    BackendOptionsCommand,
    backend_option_values,
    check_backend_settings,
    given_flags,
)
from runner.cli.common import chosen_backend_name, follow_run, notice, reports_errors, stream_logs_option
from runner.cli.completion import complete_backends
from runner.cli.progress import Progress
from runner.errors import UsageError
from runner.runs.detach import DriverOptions
from runner.spec import PipelineSpec, load_text
from runner.store import RunRecord


@click.command(name="compile")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout."
)
@click.option("--function", help="The pipeline (or component) to compile, when the file has several.")
@reports_errors
def compile_command(source: Path, output: Path | None, function: str | None) -> None:
    """Compile the pipeline of SOURCE (a Python file, flow's SDK or kfp's) to KFP v2 IR YAML."""
    from runner.dsl.source import compile_file

    text = compile_file(source, function)
    load_text(text, str(source))  # the loader of `flow run`: what it refuses is never written
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"compiled {source} to {output}", err=True)


@click.command(cls=BackendOptionsCommand)
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--local", "local", is_flag=True, help="Run on this machine (the default).")
@click.option("--cluster", is_flag=True, help="Run each task as a Kubernetes pod.")
@click.option(
    "--backend",
    shell_complete=complete_backends,
    help="Backend by name: process, docker, k8s, or one a plugin adds.",
)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter.")
@click.option("--parallelism", type=click.IntRange(min=1), help="Tasks running at once [default: CPU count].")
@click.option(
    "--root",
    metavar="FOLDER|s3://BUCKET/PREFIX",
    help="Pipeline root: a folder, or an S3 bucket and prefix (endpoint and keys from the AWS env/config).",
)
@click.option(
    "--no-cache", is_flag=True, help="Run every task, even where an identical one succeeded before."
)
@click.option(
    "--task-timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Deadline of each task the pipeline gives none (kfp-kubernetes activeDeadlineSeconds).",
)
@click.option("--function", help="For a Python PIPELINE with several pipelines: the one to run.")
@click.option("--ui", "with_ui", is_flag=True, help="Serve the web UI while the run goes on; open its page.")
@stream_logs_option
@click.option(
    "--kubeflow",
    "kubeflow_url",
    metavar="URL",
    help="Submit to this Kubeflow Pipelines API instead, and follow the run there.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="With --cluster: run the engine in the cluster (a driver Job); print the run id and return. "
    "Needs a shared store (FLOW_STORE=postgresql://...).",
)
@click.option(
    "--driver-image",
    metavar="IMAGE",
    help="The flow image the driver runs (the repo's Dockerfile) "
    "[default: the one scripts/build-flow-image.sh builds].",
)
@click.option(
    "--driver-service-account",
    metavar="NAME",
    help="ServiceAccount of the driver [default: the one deploy/rbac.yaml makes].",
)
@reports_errors
def run(
    pipeline: Path,
    local: bool,
    cluster: bool,
    backend: str | None,
    params: tuple[str, ...],
    parallelism: int | None,
    root: str | None,
    no_cache: bool,
    task_timeout: float | None,
    function: str | None,
    with_ui: bool,
    kubeflow_url: str | None,
    detach: bool,
    driver_image: str | None,
    driver_service_account: str | None,
    stream_logs: bool,
    backend_settings: dict[str, Any],
) -> None:
    """Run PIPELINE (a KFP v2 IR YAML file, or a Python file defining a pipeline with flow's SDK or kfp's)
    to the end; exit 0 only when it succeeded.

    With --local (the default) tasks run as Docker containers when a Docker engine answers, else as local
    processes.
    """
    from runner.spec.parameters import parse_assignments

    if local and cluster:
        raise UsageError("choose one of --local and --cluster", "flow run")
    backend_name = chosen_backend_name(local, cluster, backend)
    check_backend_settings(backend_settings, backend_name, "flow run")
    _check_detach(detach, backend_name, kubeflow_url, with_ui, driver_image, driver_service_account)
    if detach and stream_logs and kubeflow_url is None:
        raise UsageError(
            "--stream-logs prints the output of the tasks this process runs: with --detach, use flow logs -f",
            "flow run",
        )
    values = parse_assignments(list(params))
    target = api.load_pipeline(pipeline, function)
    if kubeflow_url is not None:
        from runner.cli.kubeflow import submit

        engine_options = {
            "--local": local,
            "--cluster": cluster,
            "--backend": backend,
            "--parallelism": parallelism,
            "--no-cache": no_cache,
            "--task-timeout": task_timeout,
            "--ui": with_ui,
            "--stream-logs": stream_logs,
            **{flag: True for flag in given_flags(backend_settings)},
        }
        given = ", ".join(name for name, value in engine_options.items() if value)
        if given:
            raise UsageError(f"{given}: not with --kubeflow (the Kubeflow server runs it)", "flow run")
        submit(kubeflow_url, target, values, str(root) if root is not None else None, detach=detach)
        return
    backend_options = backend_option_values(backend_settings)
    if detach:
        driver = DriverOptions(
            image=driver_image,
            service_account=driver_service_account,
            parallelism=parallelism,
            cache=not no_cache,
            task_timeout=task_timeout,
        )
        _detach(target, backend_name, values, root, backend_options, driver)
        return
    started: list[RunRecord] = []
    show_page = _start_ui() if with_ui else None
    progress = Progress(spec=target, stream_logs=stream_logs)

    def announce(record: RunRecord) -> None:
        started.append(record)
        click.echo(f"run {record.run_id}: {record.pipeline} on {record.backend}, root {record.root}")
        if show_page is not None:
            show_page(record.run_id)

    def start(progress: Progress) -> api.RunResult:
        return api.run(
            target,
            backend=backend_name,
            params=values,
            params_as_text=True,
            root=root,
            parallelism=parallelism,
            on_change=progress.on_change,
            on_event=progress.on_event,
            on_start=announce,
            backend_options=backend_options,
            notify=notice,
            cache=not no_cache,
            task_timeout=task_timeout,
        )

    follow_run(start, lambda: started[0].run_id if started else "?", progress)


def _check_detach(
    detach: bool,
    backend_name: str,
    kubeflow_url: str | None,
    with_ui: bool,
    driver_image: str | None,
    driver_service_account: str | None,
) -> None:
    if not detach:
        given = [
            name
            for name, value in (
                ("--driver-image", driver_image),
                ("--driver-service-account", driver_service_account),
            )
            if value
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --detach", "flow run")
        return
    if kubeflow_url is not None:
        return
    from runner.runs.detach import detaching

    if detaching(backend_name) is None:
        raise UsageError(
            f"--detach runs the engine in the cluster, not on the {backend_name} backend: "
            "use it with --cluster",
            "flow run",
        )
    if with_ui:
        raise UsageError("--ui serves the page from this process: with --detach, use flow ui", "flow run")


def _detach(
    target: PipelineSpec,
    backend_name: str,
    values: dict[str, str],
    root: str | None,
    backend_options: dict[str, Any],
    driver: DriverOptions,
) -> None:
    """Start the run's driver in the cluster; print the run id (alone on stdout, for scripts)."""
    from runner.runs import detach

    record = detach.submit(
        target,
        backend=backend_name,
        params=values,
        params_as_text=True,
        root=str(root) if root is not None else None,
        backend_options=backend_options,
        driver=driver,
    )
    click.echo(record.run_id)
    click.echo(
        f"run {record.run_id}: {record.pipeline} detached to the cluster, root {record.root}; "
        f"follow it with flow show {record.run_id}, flow logs {record.run_id} TASK -f or flow ui",
        err=True,
    )


def _start_ui() -> Callable[[str], None]:
    """Serve the UI in this process's background; the returned function prints a run's page address and
    opens it where there is a screen to open it on."""
    from runner.ui.server import opening_page, ui_for_run

    address, _ = ui_for_run()

    def show(run_id: str) -> None:
        url = address.url(f"#/runs/{run_id}")
        click.echo(f"ui: {url} (served while this command runs; `flow ui` serves it afterwards)")
        if _has_screen():
            import webbrowser

            page = opening_page(url)
            atexit.register(shutil.rmtree, page.parent, True)
            # A thread: opening a browser may take a while, and the run must not wait for it.
            threading.Thread(target=webbrowser.open, args=(page.as_uri(),), daemon=True).start()

    return show


def _has_screen() -> bool:
    """Whether a graphical browser could show a page: without one, webbrowser picks a text browser that
    would take over the terminal."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
