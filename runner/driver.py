"""The engine of a detached run, in the cluster: what `flow driver RUN` does in the driver Job's pod.

Every driver, the first or one the Job made after the last was deleted or evicted, does the same: it
resumes the run from the shared store (runner.api.resume), so tasks that succeeded are never run again.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from typing import Any

from runner import api
from runner.cancel import cancel_orphaned
from runner.detach import driven_by_a_driver
from runner.engine.journal import ChangeListener
from runner.store import RunState

# A driver pod is stopped (deleted, evicted, its node drained) only to be replaced by the Job: it exits
# at once, leaving the run's pods and records for the next driver, where Ctrl-C on `flow run` cancels.
EXIT_REPLACED = 143


def _exit_for_replacement(signum: int, frame: object) -> None:
    os._exit(EXIT_REPLACED)


def drive(
    run_id: str,
    settings: Mapping[str, Any],
    on_change: ChangeListener | None = None,
    notify: Callable[[str], None] | None = None,
) -> RunState:
    """Run (or go on with) the detached run `run_id` to its end; its state then.

    `settings` as `runner.detach.driver_command` wrote them. A run already finished is left as it is (the
    Job may start a driver again after the last one recorded the end), and a run `flow cancel` asked to
    stop while no driver ran is cancelled here.
    """
    signal.signal(signal.SIGTERM, _exit_for_replacement)
    say = notify or (lambda message: None)
    with api.open_store() as store:
        record = store.run(run_id)
        if record.state.finished:
            say(f"run {run_id} already finished: {record.state.value}")
            return record.state
        if record.state == RunState.CANCELLING:
            cancel_orphaned(store, record)
            say(f"run {run_id} cancelled before this driver started")
            return RunState.CANCELLED
        if driven_by_a_driver(record):
            # The last engine was a driver pod of this run's Job: the Job starts another only once that one
            # was deleted or failed, and a deleted driver exits at once on SIGTERM.
            record.engine_pid, record.engine_host = None, ""
            store.save_run_progress(record)
        say(f"driving run {run_id} ({record.state.value})")
        result = api.resume(
            run_id,
            store=store,
            parallelism=settings.get("parallelism"),
            on_change=on_change,
            backend_options=settings.get("backend") or {},
            notify=say,
            cache=bool(settings.get("cache", True)),
            task_timeout=settings.get("task_timeout"),
            max_parameter_bytes=settings.get("max_parameter_bytes"),
            adopt=True,  # the pods the last driver started go on: this one takes them over
        )
        return result.state
