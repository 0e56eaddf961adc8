"""Removing finished runs with what they left: their store records, their outputs under the pipeline root,
their task logs and workspace under flow's home (a detached run's on its volume), and a cluster run's
workspace claim.

The store may be shared (PostgreSQL) and so hold records that another user wrote. What is removed is
therefore never a path a record names (a log's path, an artifact's URI) but the folder named by the run's
id under the run's root, under flow's logs and under its workspaces, and only for an id as flow makes them;
folders are removed without following links, and a run folder that would hold flow's home is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import Backend, BackendError
from roots import kinds
from roots.beneath import RefusedFile
from roots.files import RootFiles
from roots.local.files import LocalRootFiles
from runner import layout
from runner.errors import FlowError
from runner.selection import CLUSTER, select_backend_for_root
from runner.store import RunRecord, Store

# The ids runner.store.base.new_run_id makes: hex digits only, so an id is one harmless folder name.
_RUN_ID = re.compile(r"[0-9a-f]{8,64}")


class NotRemovable(FlowError):
    """A run that is running again by the time its records were to be deleted."""


@dataclass(frozen=True)
class Kept:
    """A run that stays, and why: it is not finished, or runs that stay reuse its outputs."""

    run_id: str
    reason: str
    running: bool


def plan(store: Store, records: Sequence[RunRecord]) -> tuple[list[RunRecord], list[Kept]]:
    """Which of these runs may be removed together, and those that must stay: runs not finished, and runs
    whose outputs other runs that stay reuse (tasks cached from theirs; those runs' records name the files,
    which they would lose). Both in the order given."""
    kept: dict[str, Kept] = {}
    reusers: dict[str, list[str]] = {}
    for record in records:
        if record.state.finished:
            reusers[record.run_id] = store.runs_reusing(record.run_id)
        else:
            reason = f"run {record.run_id} is {record.state.value}: `flow cancel {record.run_id}` first"
            kept[record.run_id] = Kept(record.run_id, reason, running=True)
    going = set(reusers)
    changed = True
    while changed:  # a run kept keeps the runs whose outputs it reuses, and so on
        changed = False
        for run_id in sorted(going):
            staying = [other for other in reusers[run_id] if other not in going]
            if staying:
                reason = (
                    f"run {run_id} is kept: cached tasks of run {', '.join(staying)} reuse its outputs "
                    "(remove them together)"
                )
                kept[run_id] = Kept(run_id, reason, running=False)
                going.discard(run_id)
                changed = True
    return [r for r in records if r.run_id in going], [kept[r.run_id] for r in records if r.run_id in kept]


def remove_run(
    store: Store, record: RunRecord, backend_options: Mapping[str, Any] | None = None
) -> list[str]:
    """Delete a finished run's records, then its files; what was left alone and why, one line each.
    NotRemovable when the run is running again (resumed since it was read): then nothing is removed."""
    if not store.delete_finished_run(record.run_id):
        raise NotRemovable(f"run {record.run_id} is no longer finished, not removed")
    if not _RUN_ID.fullmatch(record.run_id):
        return [f"run {record.run_id!r}: its files are left alone: its id is not one flow makes"]
    home = layout.flow_home()
    left = [
        note
        for folder in (home / "logs", home / "workspaces")
        if folder.is_dir()
        for note in _reset(LocalRootFiles(folder), [record.run_id], str(folder))
    ]
    return left + _remove_outputs(record, home, backend_options) + _remove_claim(record, backend_options)


def _remove_outputs(record: RunRecord, home: Path, backend_options: Mapping[str, Any] | None) -> list[str]:
    run_id = record.run_id
    where = f"{record.root.rstrip('/')}/{run_id}"
    try:
        root = kinds.parse(record.root)
    except BackendError as exc:
        return [f"{where} is left alone: {exc}"]
    folders = [run_id]
    if root.on_this_machine:
        folder = Path(record.root)
        if not folder.is_absolute():
            return [f"{where} is left alone: the run's root is not an absolute path"]
        if _holds(folder / run_id, home):
            return [f"{where} is left alone: it holds flow's home {home}"]
        if not folder.is_dir():
            return []
    else:
        from backends.k8s.driver import DRIVER_HOME  # a detached run's driver keeps logs on the volume
        from roots.base import MOUNT_PATH

        driver_home = DRIVER_HOME.removeprefix(f"{MOUNT_PATH}/")
        folders += [f"{driver_home}/logs/{run_id}", f"{driver_home}/workspaces/{run_id}"]
    made: list[Backend] = []

    def run_backend() -> Backend:
        made.append(select_backend_for_root(record.backend, record.root, backend_options=backend_options))
        return made[-1]

    try:
        return _reset(kinds.files(record.root, run_backend), folders, record.root)
    except BackendError as exc:
        return [f"{where} is left alone: {exc}"]
    finally:
        for backend in made:
            backend.close()


def _remove_claim(record: RunRecord, backend_options: Mapping[str, Any] | None) -> list[str]:
    """A cluster run's workspace is a claim of the cluster, which a run that did not succeed keeps for a
    resume: removed through the backend, as the run removes it once it succeeded. A rerun's workspace is
    the one of the run it re-ran, and stays with that run."""
    if record.backend != CLUSTER or record.rerun_of:
        return []
    from runner.engine.workspace import for_run
    from runner.spec.load import load_text

    where = f"the workspace claim of run {record.run_id}"
    try:
        workspace = for_run(load_text(record.spec_text), record)
    except FlowError as exc:
        return [f"{where} is left alone: its pipeline does not load: {exc}"]
    if workspace is None:
        return []
    try:
        backend = select_backend_for_root(record.backend, record.root, backend_options=backend_options)
    except (BackendError, FlowError) as exc:  # no cluster now, or no kubernetes package
        return [f"{where} is left: {exc}"]
    try:
        backend.workspace_view(workspace).remove()
    except BackendError as exc:
        return [f"{where} is left: {exc}"]
    finally:
        backend.close()
    return []


def _reset(files: RootFiles, folders: list[str], where: str) -> list[str]:
    left = []
    for folder in folders:
        try:
            files.reset(folder, create=False)
        except (OSError, RefusedFile, BackendError) as exc:
            left.append(f"{where.rstrip('/')}/{folder} is left: {_reason(exc)}")
    return left


def _reason(exc: Exception) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def _holds(folder: Path, inner: Path) -> bool:
    """Whether `inner` is `folder` or inside it, links followed (as a removal of `folder` would not)."""
    return inner.resolve().is_relative_to(folder.resolve())
