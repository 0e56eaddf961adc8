"""The `flow` command: a thin layer over the Python API and the store."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from backends.base import BackendError
from runner import api
from runner.cli import format as fmt
from runner.cli.progress import Progress
from runner.config import PULL_POLICIES, load_config, parse_image_map
from runner.detach import DEFAULT_DRIVER_ACCOUNT, DEFAULT_DRIVER_IMAGE, DriverOptions
from runner.errors import FlowError, UsageError
from runner.reruns import rerun as rerun_task
from runner.selection import CLUSTER, LOCAL
from runner.spec import PipelineSpec, load_text
from runner.store import RunRecord, RunState, Store, TaskRecord
from runner.tasklogs import RunLogs
from runner.ui import DEFAULT_HOST, DEFAULT_PORT

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILED, EXIT_CANCELLED = 1, 130
RUN_AS_NON_ROOT_HELP = "Run task containers and pods as user 65534 (nobody), never as root."
_CANCEL_WAIT_SECONDS = 30


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flow-pipelines")
def main() -> None:
    """Run Kubeflow Pipelines v2 pipelines as containers, on a laptop or on Kubernetes."""


def _backend_name(local: bool, cluster: bool, backend: str | None) -> str:
    if backend:
        return backend
    return CLUSTER if cluster else LOCAL


def cluster_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of the Kubernetes backend (`--cluster`), collected into one `cluster` dict argument."""
    options = [
        click.option("--context", help="kubeconfig context [default: the current one]."),
        click.option("--namespace", help="Namespace of the pods [default: the context's]."),
        click.option("--pvc", help="Existing volume claim for the pipeline root [default: flow-root, made]."),
        click.option("--storage-class", help="Storage class of the claim flow makes."),
        click.option("--pvc-size", help="Size of the claim flow makes [default: 10Gi]."),
        click.option("--service-account", help="ServiceAccount the pods run as."),
        click.option(
            "--unschedulable-timeout",
            type=click.FloatRange(min=0),
            metavar="SECONDS",
            help="How long a pod may wait for a node before its task fails [default: 120].",
        ),
        click.option(
            "--s3-secret",
            metavar="NAME",
            help="With an s3:// root: a secret of AWS_* variables (keys, endpoint, region) for the pods "
            "that stage each task's files [default: this shell's AWS_* variables].",
        ),
        click.option(
            "--staging-image",
            metavar="IMAGE",
            help="With an s3:// root: the image (python3 and boto3) that stages each task's files in its "
            "pod [default: the flow image, flow-local/flow:dev].",
        ),
    ]
    names = [
        "context",
        "namespace",
        "pvc",
        "storage_class",
        "pvc_size",
        "service_account",
        "unschedulable_timeout",
        "s3_secret",
        "staging_image",
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name) for name in names}
        kwargs["cluster_settings"] = {k: v for k, v in given.items() if v is not None}
        command(*args, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _is_python(path: Path) -> bool:
    return path.suffix == ".py"


def _compiled(source: Path, function: str | None) -> str:
    """The IR YAML of the @pipeline in a Python file."""
    from runner.dsl.ir import compile_to_text
    from runner.dsl.source import find_pipeline

    return compile_to_text(find_pipeline(source, function))


@main.command(name="compile")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout."
)
@click.option("--function", help="The @pipeline (or component) to compile, when the file has several.")
@reports_errors
def compile_command(source: Path, output: Path | None, function: str | None) -> None:
    """Compile the @pipeline of SOURCE (a Python file) to KFP v2 IR YAML."""
    text = _compiled(source, function)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"compiled {source} to {output}", err=True)


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--local", "local", is_flag=True, help="Run on this machine (the default).")
@click.option("--cluster", is_flag=True, help="Run each task as a Kubernetes pod.")
@click.option("--backend", help="Backend by name: process, docker, k8s, or one a plugin adds.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A pipeline parameter.")
@click.option("--parallelism", type=click.IntRange(min=1), help="Tasks running at once [default: CPU count].")
@click.option(
    "--root",
    metavar="FOLDER|s3://BUCKET/PREFIX",
    help="Pipeline root: a folder, or an S3 bucket and prefix (endpoint and keys from the AWS env/config).",
)
@click.option(
    "--image-map",
    "image_map",
    multiple=True,
    metavar="FROM=TO",
    help="Run image TO wherever the pipeline names FROM (also `image_map` in flow.yaml).",
)
@click.option("--pull", type=click.Choice(PULL_POLICIES), help="When to pull images [default: missing].")
@click.option("--keep-failed", is_flag=True, help="Keep the containers of failed tasks for inspection.")
@click.option("--run-as-non-root", is_flag=True, help=RUN_AS_NON_ROOT_HELP)
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
    help=f"The flow image the driver runs (the repo's Dockerfile) [default: {DEFAULT_DRIVER_IMAGE}].",
)
@click.option(
    "--driver-service-account",
    metavar="NAME",
    help=f"ServiceAccount of the driver (deploy/rbac.yaml) [default: {DEFAULT_DRIVER_ACCOUNT}].",
)
@cluster_options
@reports_errors
def run(
    pipeline: Path,
    local: bool,
    cluster: bool,
    backend: str | None,
    params: tuple[str, ...],
    parallelism: int | None,
    root: str | None,
    image_map: tuple[str, ...],
    pull: str | None,
    keep_failed: bool,
    run_as_non_root: bool,
    no_cache: bool,
    task_timeout: float | None,
    function: str | None,
    with_ui: bool,
    kubeflow_url: str | None,
    detach: bool,
    driver_image: str | None,
    driver_service_account: str | None,
    cluster_settings: dict[str, Any],
) -> None:
    """Run PIPELINE (a KFP v2 IR YAML file, or a Python file with a @pipeline) to the end; exit 0 only
    when it succeeded.

    With --local (the default) tasks run as Docker containers when a Docker engine answers, else as local
    processes.
    """
    from runner.params import parse_assignments

    if local and cluster:
        raise UsageError("choose one of --local and --cluster", "flow run")
    backend_name = _backend_name(local, cluster, backend)
    if cluster_settings and backend_name != CLUSTER:
        given = ", ".join(f"--{name.replace('_', '-')}" for name in cluster_settings)
        raise UsageError(f"{given}: only for --cluster", "flow run")
    _check_detach(detach, backend_name, kubeflow_url, with_ui, driver_image, driver_service_account)
    values = parse_assignments(list(params))
    target: Path | PipelineSpec = pipeline
    if _is_python(pipeline):
        target = load_text(_compiled(pipeline, function), str(pipeline))
    elif function is not None:
        raise UsageError("--function is for Python pipeline files", "flow run")
    if kubeflow_url is not None:
        from runner.cli.kubeflow import submit

        engine_options = {
            "--local": local,
            "--cluster": cluster,
            "--backend": backend,
            "--parallelism": parallelism,
            "--image-map": image_map,
            "--pull": pull,
            "--keep-failed": keep_failed,
            "--run-as-non-root": run_as_non_root,
            "--no-cache": no_cache,
            "--task-timeout": task_timeout,
            "--ui": with_ui,
            **{f"--{name.replace('_', '-')}": True for name in cluster_settings},
        }
        given = ", ".join(name for name, value in engine_options.items() if value)
        if given:
            raise UsageError(f"{given}: not with --kubeflow (the Kubeflow server runs it)", "flow run")
        spec = target if isinstance(target, PipelineSpec) else api.load_pipeline(target)
        submit(kubeflow_url, spec, values, str(root) if root is not None else None, detach=detach)
        return
    backend_options = {
        **_backend_options(image_map, pull, keep_failed, run_as_non_root),
        **cluster_settings,
    }
    if detach:
        driver = DriverOptions(
            image=driver_image or DEFAULT_DRIVER_IMAGE,
            service_account=driver_service_account or DEFAULT_DRIVER_ACCOUNT,
            parallelism=parallelism,
            cache=not no_cache,
            task_timeout=task_timeout,
        )
        _detach(target, values, root, backend_options, driver)
        return
    started: list[RunRecord] = []
    show_page = _start_ui() if with_ui else None

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
            on_start=announce,
            backend_options=backend_options,
            notify=_notice,
            cache=not no_cache,
            task_timeout=task_timeout,
        )

    _drive(start, lambda: started[0].run_id if started else "?")


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
    if backend_name != CLUSTER:
        raise UsageError("--detach runs the engine in the cluster: use it with --cluster", "flow run")
    if with_ui:
        raise UsageError("--ui serves the page from this process: with --detach, use flow ui", "flow run")


def _detach(
    target: Path | PipelineSpec,
    values: dict[str, str],
    root: str | None,
    backend_options: dict[str, Any],
    driver: DriverOptions,
) -> None:
    """Start the run's driver in the cluster; print the run id (alone on stdout, for scripts)."""
    from runner import detach

    record = detach.submit(
        target,
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
    """Serve the UI in this process's background (or find `flow ui` already serving); the returned function
    prints a run's page address and opens it where there is a screen to open it on."""
    from runner.ui.server import ui_for_run

    address, _ = ui_for_run()

    def show(run_id: str) -> None:
        url = address.url(f"#/runs/{run_id}")
        click.echo(f"ui: {url} (served while this command runs; `flow ui` serves it afterwards)")
        if _has_screen():
            import webbrowser

            # A thread: opening a browser may take a while, and the run must not wait for it.
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    return show


def _has_screen() -> bool:
    """Whether a graphical browser could show a page: without one, webbrowser picks a text browser that
    would take over the terminal."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def _notice(message: str) -> None:
    click.echo(message, err=True)


def _backend_options(
    image_map: tuple[str, ...], pull: str | None, keep_failed: bool, run_as_non_root: bool
) -> dict[str, Any]:
    config = load_config()
    return {
        "image_map": {**config.image_map, **parse_image_map(list(image_map))},
        "pull": pull or config.pull,
        "keep_failed": keep_failed,
        "run_as_non_root": run_as_non_root,
    }


def _drive(start: Callable[[Progress], api.RunResult], run_id: Callable[[], str]) -> None:
    """Run with live progress; Ctrl-C and SIGTERM cancel the run. Exits with the run's outcome."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with Progress() as progress:
        try:
            result: api.RunResult | None = start(progress)
        except KeyboardInterrupt:
            result = None
    if result is None or result.state == RunState.CANCELLED:
        click.echo(f"run {run_id()} cancelled; its tasks were stopped (flow resume continues it)", err=True)
        sys.exit(EXIT_CANCELLED)
    _summarize(result)
    sys.exit(0 if result.succeeded else EXIT_FAILED)


@main.command()
@click.argument("run_id", metavar="RUN")
@click.option("--parallelism", type=click.IntRange(min=1), help="Tasks running at once [default: CPU count].")
@click.option("--image-map", "image_map", multiple=True, metavar="FROM=TO", help="As for flow run.")
@click.option("--pull", type=click.Choice(PULL_POLICIES), help="When to pull images [default: missing].")
@click.option("--keep-failed", is_flag=True, help="Keep the containers of failed tasks for inspection.")
@click.option("--run-as-non-root", is_flag=True, help=RUN_AS_NON_ROOT_HELP)
@click.option("--no-cache", is_flag=True, help="Run every remaining task, even where one could be reused.")
@cluster_options
@reports_errors
def resume(
    run_id: str,
    parallelism: int | None,
    image_map: tuple[str, ...],
    pull: str | None,
    keep_failed: bool,
    run_as_non_root: bool,
    no_cache: bool,
    cluster_settings: dict[str, Any],
) -> None:
    """Finish an interrupted, failed or cancelled run; tasks that succeeded are not run again."""
    backend_options = {
        **_backend_options(image_map, pull, keep_failed, run_as_non_root),
        **cluster_settings,
    }
    with api.open_store() as store:
        from runner import detach

        detach.take_back(store, store.run(run_id))
    click.echo(f"resuming run {run_id}")
    _drive(
        lambda progress: api.resume(
            run_id,
            parallelism=parallelism,
            on_change=progress.on_change,
            backend_options=backend_options,
            notify=_notice,
            cache=not no_cache,
        ),
        lambda: run_id,
    )


@main.command()
@click.argument("run_id", metavar="RUN")
@click.argument("task")
@click.option("--local", "local", is_flag=True, help="Run it on this machine (Docker, else processes).")
@click.option("--cluster", is_flag=True, help="Run it as a Kubernetes pod.")
@click.option("--backend", help="Backend by name [default: the run's own].")
@click.option(
    "--root",
    metavar="FOLDER|s3://BUCKET/PREFIX",
    help="Pipeline root [default: the run's, where the backend can use it].",
)
@click.option("--image-map", "image_map", multiple=True, metavar="FROM=TO", help="As for flow run.")
@click.option("--pull", type=click.Choice(PULL_POLICIES), help="When to pull images [default: missing].")
@click.option("--keep-failed", is_flag=True, help="Keep the container of a failed task for inspection.")
@click.option("--run-as-non-root", is_flag=True, help=RUN_AS_NON_ROOT_HELP)
@click.option(
    "--task-timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Deadline of the task when the pipeline gives it none.",
)
@cluster_options
@reports_errors
def rerun(
    run_id: str,
    task: str,
    local: bool,
    cluster: bool,
    backend: str | None,
    root: str | None,
    image_map: tuple[str, ...],
    pull: str | None,
    keep_failed: bool,
    run_as_non_root: bool,
    task_timeout: float | None,
    cluster_settings: dict[str, Any],
) -> None:
    """Run TASK of the run RUN again, as a new run of that one task, with the input values and artifacts
    it had; exit 0 only when it succeeded. TASK is a task path as `flow show` prints it.

    It runs on the run's backend unless --local, --cluster or --backend says otherwise; input artifacts are
    copied from the run's root when the new run's root is another (a cluster's volume to this machine).
    """
    if local and cluster:
        raise UsageError("choose one of --local and --cluster", "flow rerun")
    backend_name = backend or (CLUSTER if cluster else LOCAL if local else None)
    if cluster_settings and backend_name not in (CLUSTER, None):
        given = ", ".join(f"--{name.replace('_', '-')}" for name in cluster_settings)
        raise UsageError(f"{given}: only for a cluster", "flow rerun")
    backend_options = {
        **_backend_options(image_map, pull, keep_failed, run_as_non_root),
        **cluster_settings,
    }
    started: list[RunRecord] = []

    def announce(record: RunRecord) -> None:
        started.append(record)
        click.echo(
            f"run {record.run_id}: rerun of run {record.rerun_of} task {record.rerun_task} "
            f"on {record.backend}, root {record.root}"
        )

    _drive(
        lambda progress: rerun_task(
            run_id,
            task,
            backend=backend_name,
            root=root,
            on_change=progress.on_change,
            on_start=announce,
            backend_options=backend_options,
            notify=_notice,
            task_timeout=task_timeout,
        ),
        lambda: started[0].run_id if started else "?",
    )


@main.command()
@click.argument("run_id", metavar="RUN")
@reports_errors
def cancel(run_id: str) -> None:
    """Stop every task of a running run and record it as cancelled."""
    with api.open_store() as store:
        record = store.run(run_id)
        if record.state.finished:
            click.echo(f"run {record.run_id} already finished: {record.state.value}")
            return
        if record.backend == CLUSTER:
            from runner import detach

            if detach.cancel(store, record):
                state = store.run_state(record.run_id).value
                click.echo(f"run {record.run_id} {state}; its driver is removed")
                return
        from runner.cancel import cancel_orphaned

        if api.engine_alive(record):
            store.request_cancel(record.run_id)
            deadline = time.monotonic() + _CANCEL_WAIT_SECONDS
            while time.monotonic() < deadline and not store.run_state(record.run_id).finished:
                time.sleep(0.2)
            current = store.run(record.run_id)
            if (
                current.state.finished
                or not current.engine_host
                or current.engine_host == socket.gethostname()
            ):
                click.echo(f"run {record.run_id} {current.state.value}")
                return
            # An engine on another machine that did not answer may be gone with its machine: its tasks are
            # stopped from here, and should it still live, it finds its run cancelled.
            cancel_orphaned(store, current)
            click.echo(f"run {record.run_id} CANCELLED ({api.engine_place(current)} did not answer)")
            return
        cancel_orphaned(store, record)
        click.echo(f"run {record.run_id} CANCELLED (its engine was no longer running)")


@main.command(hidden=True)
@click.argument("run_id", metavar="RUN")
@click.option("--settings", default="{}", help="As runner.detach.driver_command writes them (JSON).")
@reports_errors
def driver(run_id: str, settings: str) -> None:
    """The engine of a detached run, in its driver pod: run RUN (or go on with it) to its end.

    Exits 0 once the run has ended, however it ended (the Job must not start it again), else non-zero so
    that the Job starts another driver, which resumes the run.
    """
    from runner.driver import drive

    with Progress() as progress:
        state = drive(run_id, json.loads(settings), on_change=progress.on_change, notify=_notice)
    click.echo(f"run {run_id} {state.value}")


def _summarize(result: api.RunResult) -> None:
    total = sum(1 for t in result.tasks.values())
    click.echo(f"run {result.run_id} {result.state.value} ({total} tasks)")
    if result.error:
        click.echo(f"error: {result.error}", err=True)
    for name, value in result.outputs.items():
        click.echo(f"  output {name} = {json.dumps(value)}")
    for name, path in result.artifacts.items():
        click.echo(f"  artifact {name}: {path}")
    if result.root.startswith("/"):
        click.echo(f"outputs are under {result.root}/{result.run_id}")
    else:
        click.echo(
            f"outputs are in {result.root} under {result.run_id}/ "
            f"(flow artifacts {result.run_id} --download DIR copies them here)"
        )


@main.command()
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@reports_errors
def runs(limit: int) -> None:
    """List runs, newest first."""
    with api.open_store() as store:
        table = Table(box=None)
        for column in ("run", "pipeline", "backend", "state", "started", "duration"):
            table.add_column(column)
        for record in store.runs(limit):
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


@main.command()
@click.argument("run_id", metavar="RUN")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@reports_errors
def show(run_id: str, output: str) -> None:
    """Show a run's tasks: state, attempts, duration, inputs and outputs. RUN may be "latest"."""
    with api.open_store() as store:
        record = store.run(run_id)
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


@main.command()
@click.argument("run_id", metavar="RUN")
@click.argument("task", required=False)
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
        with RunLogs(record, {"image_map": config.image_map, "pull": config.pull}) as run_logs:
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
    while True:
        # The state before the read: once it says finished, this read reaches the end of the log.
        current = store.task(task.run_id, task.path) if follow else None
        try:
            chunk = run_logs.read(task.log_path, offset)
        except BackendError as exc:
            raise UsageError(f"cannot read the log of {task.path}: {exc}", "flow logs") from None
        offset += len(chunk)
        sys.stdout.write(chunk.decode("utf-8", errors="replace"))
        sys.stdout.flush()
        if current is None or current.state.finished or current.log_path != task.log_path:
            return
        time.sleep(0.5)


@main.command()
@click.argument("run_id", metavar="RUN")
@click.option(
    "--download",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Copy the run's files into DIR (from a cluster's volume through a short-lived pod).",
)
@click.option("--image-map", "image_map", multiple=True, metavar="FROM=TO", help="As for flow run.")
@click.option("--pull", type=click.Choice(PULL_POLICIES), help="As for flow run.")
@reports_errors
def artifacts(run_id: str, download: Path | None, image_map: tuple[str, ...], pull: str | None) -> None:
    """List a run's artifacts with their URIs (relative to the run's root) and sizes; with --download, copy
    the run's files (on a cluster, out of its volume) into a local folder."""
    with api.open_store() as store:
        record = store.run(run_id)
        if download is not None:
            options = _backend_options(image_map, pull, keep_failed=False, run_as_non_root=False)
            count = api.download(record, download, options)
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


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 takes a free one.",
)
@click.option("--token", help="Required of every request [default: none on loopback, else one made up].")
@reports_errors
def ui(host: str, port: int, token: str | None) -> None:
    """Serve a web page to watch runs, read logs, look at artifacts and start runs; Ctrl-C stops it.

    Listening on anything but this machine's loopback requires a token: give one, or use the one printed.
    """
    from runner.ui.server import Address, serve, token_for

    api.open_store().close()  # a store that cannot be opened is reported here, not on the first page load

    def announce(address: Address) -> None:
        click.echo(f"flow ui: {address.url()}")
        if address.token and not token:
            click.echo("the token is in the address above: anyone with the address can use the UI")

    serve(host, port, token_for(host, token), announce)


if __name__ == "__main__":
    main()
