"""The `flow` command: a thin layer over the Python API and the store."""

from __future__ import annotations

import importlib

import click

from runner.suggestions import did_you_mean

# Each command and where it is defined (module, function): a command's module loads only when it is used,
# so that `flow --version` or `flow show` does not pay for the engine or the backends' clients.
COMMANDS = {
    "compile": ("running", "compile_command"),
    "run": ("running", "run"),
    "resume": ("lifecycle", "resume"),
    "rerun": ("lifecycle", "rerun"),
    "cancel": ("lifecycle", "cancel"),
    "driver": ("lifecycle", "driver"),
    "runs": ("inspecting", "runs"),
    "show": ("inspecting", "show"),
    "logs": ("inspecting", "logs"),
    "artifacts": ("inspecting", "artifacts"),
    "ui": ("inspecting", "ui"),
    "completion": ("completion", "completion"),
    "rm": ("removing", "rm"),
    "gc": ("removing", "gc"),
}


class _Commands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"runner.cli.{module}"), name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name not in COMMANDS and not name.startswith("-"):
            # Every command is loaded to leave the hidden ones out: on this error only.
            shown = [
                n for n in self.list_commands(ctx) if not getattr(self.get_command(ctx, n), "hidden", True)
            ]
            ctx.fail(f"No such command {name!r}{did_you_mean(name, shown) or '.'}")
        return super().resolve_command(ctx, args)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flow-pipelines")
def main() -> None:
    """Run Kubeflow Pipelines v2 pipelines as containers, on a laptop or on Kubernetes."""


if __name__ == "__main__":
    main()
