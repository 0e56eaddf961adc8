"""`flow rm` and `flow gc`: remove finished runs with their files, logs and store records."""

from __future__ import annotations

import sys
from typing import Any

import click

from runner import api
from runner.cli import format as fmt
from runner.cli.backendoptions import BackendOptionsCommand, backend_option_values
from runner.cli.common import reports_errors
from runner.cli.completion import complete_runs
from runner.cli.moments import moment
from runner.runs import removal
from runner.runs.runsession import record_abandoned
from runner.store import RunRecord, Store


@click.command(cls=BackendOptionsCommand, backend_fields=("image_map", "pull"))
@click.argument("run_ids", metavar="RUN...", nargs=-1, required=True, shell_complete=complete_runs)
@reports_errors
def rm(run_ids: tuple[str, ...], backend_settings: dict[str, Any]) -> None:
    """Remove runs: their outputs under the pipeline root, their task logs and their records. A run that
    is not finished is not removed, nor one whose outputs cached tasks of another run reuse (unless that
    run goes too); either is named on stderr and the exit code is 1."""
    with api.open_store() as store:
        found: dict[str, RunRecord] = {}
        for run_id in run_ids:  # every run is found before any is removed: a typo removes nothing
            record = store.run(run_id)
            found.setdefault(record.run_id, record)
        kept = _remove(store, list(found.values()), backend_settings, dry_run=False)
    for item in kept:
        click.echo(f"error: {item.reason}", err=True)
    sys.exit(1 if kept else 0)


@click.command(cls=BackendOptionsCommand, backend_fields=("image_map", "pull"))
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE|DATE",
    help="Remove the runs created before then: an age such as 30d, 12h or 2w, or an ISO date.",
)
@click.option("--dry-run", is_flag=True, help="Only print which runs would be removed.")
@reports_errors
def gc(older_than: str, dry_run: bool, backend_settings: dict[str, Any]) -> None:
    """Remove the runs created before a moment, as `flow rm` does. Runs whose outputs newer runs reuse
    (cached tasks) are kept, each named; a run not finished is named on stderr and the exit code is 1."""
    before = moment(older_than, "--older-than")
    with api.open_store() as store:
        records = store.runs(None, before=before)
        kept = _remove(store, records, backend_settings, dry_run=dry_run)
    for item in kept:
        if item.running:
            click.echo(f"error: {item.reason}", err=True)
        else:
            click.echo(item.reason)
    sys.exit(1 if any(item.running for item in kept) else 0)


def _remove(
    store: Store, records: list[RunRecord], backend_settings: dict[str, Any], *, dry_run: bool
) -> list[removal.Kept]:
    """Remove the runs that may go, printing a line for each; the runs kept."""
    record_abandoned(store, records)  # a run whose engine died is FAILED, and may go
    going, kept = removal.plan(store, records)
    options = backend_option_values(backend_settings)
    for record in going:
        described = (
            f"run {record.run_id} ({record.pipeline}, {record.state.value}, {fmt.when(record.created_at)})"
        )
        if dry_run:
            click.echo(f"would remove {described}")
            continue
        try:
            left = removal.remove_run(store, record, options)
        except removal.NotRemovable as exc:
            kept.append(removal.Kept(record.run_id, str(exc), running=True))
            continue
        click.echo(f"removed {described}")
        for note in left:
            click.echo(f"warning: {note}", err=True)
    return kept
