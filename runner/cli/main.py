"""The `flow` command: a thin layer over the Python API and the store."""

from __future__ import annotations

import click

from runner.cli import inspecting, lifecycle, running


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flow-pipelines")
def main() -> None:
    """Run Kubeflow Pipelines v2 pipelines as containers, on a laptop or on Kubernetes."""


for command in (
    running.compile_command,
    running.run,
    lifecycle.resume,
    lifecycle.rerun,
    lifecycle.cancel,
    lifecycle.driver,
    inspecting.runs,
    inspecting.show,
    inspecting.logs,
    inspecting.artifacts,
    inspecting.ui,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
