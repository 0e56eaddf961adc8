"""`flow completion SHELL`, and what the shells complete: commands, run ids, a run's tasks and backends.

The script a shell loads calls `flow` again with `_FLOW_COMPLETE` set (click's protocol); click then asks
the arguments' `shell_complete` functions below. They read the store, never a pipeline file: pressing Tab
runs no code of a pipeline. Task names come from pipeline files, which may be hostile, and a completion is
typed into the user's command line: a name with a character a shell would act on (`$(...)`, `;`, a quote, a
newline) is never offered, and control characters in the help shown beside one are escaped.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem, get_completion_class

from runner import layout
from runner.errors import FlowError, one_line
from runner.plugins import LOCAL, backend_names

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runner.store import Store

SHELLS = ("bash", "zsh", "fish")
PROG_NAME = "flow"
COMPLETE_VAR = "_FLOW_COMPLETE"
# How many of the newest runs are completed: a prefix of an older run is still accepted when typed.
RUNS_COMPLETED = 500
# What a completed word may hold: what run ids, task paths (kfp's names, loop indexes) and backends hold.
_INERT = re.compile(r"[\w./:@+=-]+")


@click.command()
@click.argument("shell", metavar="SHELL", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the script that makes SHELL (bash, zsh or fish) complete flow's commands, options, run ids,
    task names and backends.

    \b
    bash: eval "$(flow completion bash)"     in ~/.bashrc
    zsh:  eval "$(flow completion zsh)"      in ~/.zshrc (after compinit)
    fish: flow completion fish > ~/.config/fish/completions/flow.fish
    """
    from runner.cli.main import main

    script_class = get_completion_class(shell)
    assert script_class is not None  # click has a class for each of SHELLS
    click.echo(script_class(main, {}, PROG_NAME, COMPLETE_VAR).source())


def complete_backends(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`local` and the installed backends (not one only a test registered)."""
    return [CompletionItem(name) for name in [LOCAL, *backend_names()] if name.startswith(incomplete)]


def complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`latest` and the ids of the newest runs, each with its pipeline and state as help."""
    found = [CompletionItem("latest", help="the newest run")] if "latest".startswith(incomplete) else []
    store = _open_store()
    if store is None:
        return found
    with store:
        try:
            records = store.runs(RUNS_COMPLETED)
        except FlowError:
            return found
    return found + _offered(((r.run_id, f"{r.pipeline} {r.state.value}") for r in records), incomplete)


def complete_tasks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The task paths of the run given before, each with its state as help."""
    run_id = ctx.params.get("run_id")
    store = _open_store() if run_id else None
    if store is None:
        return []
    with store:
        try:
            tasks = store.tasks(store.run(str(run_id)).run_id)
        except FlowError:
            return []
    return _offered(((t.path, t.state.value) for t in tasks), incomplete)


def _offered(words: Iterable[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    """The words (each with its help) that start with `incomplete` and that a shell takes as plain text."""
    return [
        CompletionItem(word, help=one_line(help_text))
        for word, help_text in words
        if word.startswith(incomplete) and _INERT.fullmatch(word)
    ]


def _open_store() -> Store | None:
    """The store, when there is one: completing makes none, and an error is no completion, never a
    traceback in the middle of the command line."""
    from runner.runs.runsession import open_store

    if not os.environ.get("FLOW_STORE") and not (layout.flow_home() / "flow.db").is_file():
        return None
    try:
        return open_store()
    except FlowError:
        return None
