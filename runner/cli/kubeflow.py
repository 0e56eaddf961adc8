"""`flow run --kubeflow URL`: the pipeline goes to a Kubeflow Pipelines server instead of flow's engine."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import click

from runner.cli.common import EXIT_CANCELLED, EXIT_FAILED
from runner.kubeflow_client import KubeflowClient, KubeflowRun, run_body
from runner.spec import PipelineSpec
from runner.spec import parameters as pipeline_params


def submit(url: str, spec: PipelineSpec, given: Mapping[str, str], root: str | None, detach: bool) -> None:
    """Create the run on the server, then (unless `detach`) follow it to its end and exit with its outcome.
    Ctrl-C while following terminates the run on the server, as it cancels a run of flow's own."""
    values = pipeline_params.bind(spec, given, as_text=True)
    client = KubeflowClient(url)
    try:
        created = client.create(run_body(spec, values, root))
        click.echo(f"kubeflow run {created.run_id}: {spec.name} at {created.link}")
        if detach:
            return
        try:
            final = client.wait(created.run_id, _report)
        except KeyboardInterrupt:
            client.terminate(created.run_id)
            click.echo(f"kubeflow run {created.run_id} terminated", err=True)
            sys.exit(EXIT_CANCELLED)
    finally:
        client.close()
    if final.state == "CANCELED":
        sys.exit(EXIT_CANCELLED)
    sys.exit(0 if final.state in ("SUCCEEDED", "SKIPPED") else EXIT_FAILED)


def _report(run: KubeflowRun) -> None:
    click.echo(f"kubeflow run {run.run_id}: {run.state}" + (f": {run.error}" if run.error else ""))
