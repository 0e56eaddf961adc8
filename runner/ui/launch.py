"""Starting runs from the page: find pipeline files, describe their inputs, check values, run in a thread;
and the run page's actions: resume a run, rerun one of its tasks, clone it with other values.

A Python pipeline file is compiled in a child process (`flow compile`), so its module-level code never runs
inside the UI's process. Runs started here run in the UI's process; stopping the UI cancels them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import api
from runner.config import load_config
from runner.errors import FlowError, UsageError
from runner.plugins import backend_names
from runner.runs.runsession import engine_alive
from runner.selection import LOCAL
from runner.spec import PipelineSpec, load_text
from runner.spec import parameters as pipeline_params
from runner.store import RunRecord, RunState, Store
from runner.ui.security import PathRefused, resolve_within

SUFFIXES = (".yaml", ".yml", ".py")
_SKIPPED_FOLDERS = {"node_modules", "__pycache__", "venv", "site-packages", "build", "dist"}
_PIPELINE_DECORATOR = re.compile(r"^\s*@(?:\w+\.)*pipeline\b", re.MULTILINE)
_IR_KEYS = (re.compile(r"^pipelineInfo:", re.MULTILINE), re.compile(r"^root:", re.MULTILINE))
_MAX_FOUND = 200
_SNIFF_BYTES = 8 << 20  # IR puts pipelineInfo after the components, which embed their code
_COMPILE_SECONDS = 120
_START_SECONDS = 120  # creating a cluster backend may wait for the API server
_KEPT_PIPELINES = 32
_STOP_SECONDS = 30


@dataclass(frozen=True)
class Prepared:
    """A pipeline loaded for the form: its id in this UI, and its spec."""

    pipeline_id: str
    source: str
    spec: PipelineSpec

    def form(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """The typed inputs the page builds its form from, each field's text its value in `values` (a run
        cloned), else its default."""
        inputs = []
        for name, definition in self.spec.root.inputs.parameters.items():
            default = None
            if values is not None and name in values:
                default = _field_text(definition.type, values[name])
            elif definition.has_default:
                default = _field_text(definition.type, definition.default)
            inputs.append(
                {"name": name, "type": definition.type, "default": default, "optional": definition.optional}
            )
        return {
            "pipeline_id": self.pipeline_id,
            "source": self.source,
            "name": self.spec.name,
            "inputs": inputs,
        }


def _field_text(kind: str, value: Any) -> str:
    if kind == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)  # kfp writes an integer default as a protobuf number: 2.0
    return value if isinstance(value, str) else json.dumps(value)


def find_pipelines(folder: Path) -> list[str]:
    """Pipeline files under `folder` (relative POSIX paths): IR YAML, and Python files with a @pipeline."""
    found: list[str] = []
    for current, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in _SKIPPED_FOLDERS)
        for name in sorted(files):
            path = Path(current, name)
            if path.suffix in SUFFIXES and _looks_like_pipeline(path):
                found.append(path.relative_to(folder).as_posix())
                if len(found) == _MAX_FOUND:
                    return sorted(found)
    return sorted(found)


def _looks_like_pipeline(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    if path.suffix == ".py":
        return _PIPELINE_DECORATOR.search(head) is not None
    return all(key.search(head) for key in _IR_KEYS)


def compile_python(path: Path, folder: Path) -> str:
    """The IR YAML of a Python pipeline file, compiled by `flow compile` in a child process."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", "compile", str(path)],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=_COMPILE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"compiling took more than {_COMPILE_SECONDS} s", path.name) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["flow compile failed"])[-1]
        raise UsageError(last.removeprefix("error: "))
    return done.stdout


def form_values(spec: PipelineSpec, given: dict[str, str]) -> dict[str, Any]:
    """Typed values from the form's text fields; an empty field that is no string takes the default."""
    declared = spec.root.inputs.parameters
    filled = {
        name: text
        for name, text in given.items()
        if not (text == "" and name in declared and declared[name].type != "STRING")
    }
    return pipeline_params.bind(spec, filled, as_text=True)


def _backend_options() -> dict[str, Any]:
    return load_config().backend


def backend_choices() -> list[str]:
    """What the page offers: `local` (Docker, else processes) and every installed backend."""
    return [LOCAL, *backend_names()]


class Launcher:
    """The pipelines loaded for the form and the runs started from the page."""

    def __init__(self, folder: Path, open_store: Callable[[], Store] = api.open_store) -> None:
        """Runs go into the stores `open_store` opens (one per run: each engine writes from its thread)."""
        self.folder = folder
        self._open_store = open_store
        self._prepared: OrderedDict[str, Prepared] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._resuming = threading.Lock()  # two resumes of one run at once must not both drive it

    def prepare_file(self, relative: str) -> Prepared:
        """A pipeline file under the UI's folder."""
        if Path(relative).suffix not in SUFFIXES:
            raise PathRefused(f"{relative!r} is not a pipeline file ({', '.join(SUFFIXES)})")
        path = resolve_within(self.folder, relative)
        if not path.is_file():
            raise PathRefused(f"no file {relative!r} under {self.folder}")
        if path.suffix == ".py":
            return self._keep(relative, load_text(compile_python(path, self.folder), relative))
        return self._keep(relative, load_text(path.read_text(encoding="utf-8"), relative))

    def prepare_upload(self, name: str, text: str) -> Prepared:
        """A pipeline file the page uploaded (IR YAML or Python)."""
        source = Path(name).name or "uploaded.yaml"
        if Path(source).suffix == ".py":
            with tempfile.TemporaryDirectory(prefix="flow-ui-") as folder:
                path = Path(folder, source)
                path.write_text(text, encoding="utf-8")
                return self._keep(source, load_text(compile_python(path, Path(folder)), source))
        return self._keep(source, load_text(text, source))

    def _keep(self, source: str, spec: PipelineSpec) -> Prepared:
        prepared = Prepared(pipeline_id=os.urandom(8).hex(), source=source, spec=spec)
        with self._lock:
            self._prepared[prepared.pipeline_id] = prepared
            while len(self._prepared) > _KEPT_PIPELINES:
                self._prepared.popitem(last=False)
        return prepared

    def prepare_run(self, record: RunRecord) -> Prepared:
        """The pipeline a recorded run ran, to start again with other values (a clone)."""
        if record.rerun_of:
            raise UsageError(
                f"run {record.run_id} re-ran a task of run {record.rerun_of}: clone {record.rerun_of} instead"
            )
        if not record.spec_text:
            raise UsageError(f"run {record.run_id} has no recorded pipeline to clone")
        return self._keep(record.pipeline_file, load_text(record.spec_text, record.pipeline_file))

    def start(self, pipeline_id: str, given: dict[str, str], backend: str) -> str:
        """Check the values and the backend, start the run in a thread, and return its id once it is in the
        store. Bad values raise a UsageError before anything runs."""
        with self._lock:
            prepared = self._prepared.get(pipeline_id)
        if prepared is None:
            raise UsageError("this pipeline is no longer loaded: pick it again")
        values = form_values(prepared.spec, given)
        if backend not in backend_choices():
            raise UsageError(f"unknown backend {backend!r} (choose one of {', '.join(backend_choices())})")
        options = _backend_options()
        return self._launch(
            f"the {backend} backend",
            lambda store, on_start: api.run(
                prepared.spec,
                backend=backend,
                params=values,
                store=store,
                on_start=on_start,
                backend_options=options,
            ),
        )

    def resume(self, record: RunRecord) -> str:
        """Go on with a failed or cancelled run, in a thread, on its backend (as `flow resume`)."""
        if record.state == RunState.SUCCEEDED:
            raise UsageError(f"run {record.run_id} succeeded: there is nothing to resume")
        options = _backend_options()
        with self._resuming:
            # An engine in this process (a run started here, or the run `flow run --ui` serves this page
            # beside) is one engine_alive does not count.
            here = record.engine_pid == os.getpid() and not record.state.finished
            if self._driving(record.run_id) or here or (not record.state.finished and engine_alive(record)):
                raise UsageError(f"run {record.run_id} is still running")
            return self._launch(
                f"the {record.backend} backend",
                lambda store, on_start: api.resume(
                    record.run_id, store=store, backend_options=options, on_start=on_start
                ),
            )

    def rerun(self, record: RunRecord, task: str) -> str:
        """Run one task of a recorded run again, as a new run, in a thread (as `flow rerun`)."""
        from runner.reruns import rerun  # imported here: it builds on runner.api, as this module does

        options = _backend_options()
        return self._launch(
            f"the {record.backend} backend",
            lambda store, on_start: rerun(
                record.run_id, task, store=store, backend_options=options, on_start=on_start
            ),
        )

    def _driving(self, run_id: str) -> bool:
        with self._lock:
            thread = self._threads.get(run_id)
        return thread is not None and thread.is_alive()

    def _launch(self, what: str, drive: Callable[[Store, Callable[[RunRecord], None]], object]) -> str:
        """Call `drive(store, on_start)` in a thread and return the run's id once it is told; what `drive`
        raises before then is raised here."""
        started: list[RunRecord] = []
        failed: list[FlowError] = []
        ready = threading.Event()

        def on_start(record: RunRecord) -> None:
            started.append(record)
            ready.set()

        def work() -> None:
            try:
                with self._open_store() as store:
                    drive(store, on_start)
            except FlowError as exc:
                failed.append(exc)
            except Exception as exc:  # the unforeseen (the run session records the run FAILED)
                failed.append(UsageError(f"the run failed to start: {type(exc).__name__}: {exc}"))
            finally:
                ready.set()

        thread = threading.Thread(target=work, name="flow-ui-run", daemon=True)
        thread.start()
        if not ready.wait(_START_SECONDS):
            raise UsageError(f"{what} did not start the run within {_START_SECONDS} s")
        if not started:
            raise failed[0] if failed else UsageError("the run did not start")
        with self._lock:
            self._threads[started[0].run_id] = thread
        return started[0].run_id

    def close(self) -> None:
        """Cancel the runs started here that still run, and wait for their engines to stop them."""
        with self._lock:
            threads = dict(self._threads)
        running = [run_id for run_id, thread in threads.items() if thread.is_alive()]
        if running:
            with self._open_store() as store:
                for run_id in running:
                    store.request_cancel(run_id)
        for run_id in running:
            threads[run_id].join(_STOP_SECONDS)
