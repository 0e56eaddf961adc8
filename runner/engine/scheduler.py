"""The DAG engine: walks the run's graph, submits ready container tasks to a backend, records every change.

Every task transition is saved to the store before the engine acts on it: records are written in one
transaction per tick, and that transaction is committed before any container of the tick is submitted.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from backends.base import (
    REASON_CANCELLED,
    REASON_LOST,
    Backend,
    BackendError,
    PermanentBackendError,
    Phase,
    RunInfo,
    TaskStatus,
    TemporaryBackendError,
)
from roots import kinds
from roots.beneath import RefusedFile
from runner import layout
from runner.config import DEFAULT_MAX_PARAMETER_BYTES
from runner.engine import (
    attempts,
    caching,
    conditions,
    external,
    importer,
    inputs,
    loops,
    mocks,
    outputs,
    retries,
    tracebacks,
    workspace,
)
from runner.engine.collector import YoungOnly
from runner.engine.dags import collected_outputs, dag_outputs
from runner.engine.events import AttemptFailed, EngineEvent, EventListener, LoopOpened
from runner.engine.graph import ArtifactRef, Node, Scope
from runner.engine.inflight import Running
from runner.engine.journal import ChangeListener, Journal
from runner.errors import FlowError
from runner.spec.model import Container, Importer, PipelineSpec
from runner.store import ArtifactRecord, RunRecord, RunState, Store, TaskRecord, TaskState

ALL_UPSTREAM_COMPLETED = "ALL_UPSTREAM_TASKS_COMPLETED"
_BLOCKING = frozenset((TaskState.FAILED, TaskState.SKIPPED_UPSTREAM_FAILED, TaskState.CANCELLED))
_MIN_TICK, _MAX_TICK = 0.01, 0.2
_CANCEL_CHECK_SECONDS = 1.0


log = logging.getLogger(__name__)


class CancelRequested(Exception):
    """`flow cancel` marked the run CANCELLING in the store."""


class Engine:
    """Runs one pipeline run to the end on one backend."""

    def __init__(
        self,
        spec: PipelineSpec,
        backend: Backend,
        store: Store,
        run: RunRecord,
        *,
        root: str,
        logs_dir: Path,
        parallelism: int,
        on_change: ChangeListener | None = None,
        on_event: EventListener | None = None,
        cache: bool = True,
        task_timeout: float | None = None,
        resume: bool = False,
        adopt: bool = False,
        mock: Mapping[str, mocks.Mock] | None = None,
        max_parameter_bytes: int = DEFAULT_MAX_PARAMETER_BYTES,
    ) -> None:
        """`resume`: the run was interrupted; tasks it recorded as succeeded are not run again.
        `adopt` (with `resume`): tasks it recorded as running are taken over where the backend still has
        their attempt (Backend.adopt), not started again.
        `on_event`: told what the task records do not say (a loop's size, an attempt to be retried).
        `mock`: tasks answered by a function or fixed outputs, not run, keyed by their place in the
        pipeline (mocks.resolve makes it from the names a user gives).
        `max_parameter_bytes`: the largest output parameter a task may hand back."""
        self.spec, self.backend, self.store, self.run_record = spec, backend, store, run
        self.root, self.logs_dir = root, logs_dir
        self.root_view = backend.root_view(kinds.parse(root))
        self.files = self.root_view.files()
        self.parallelism = max(1, parallelism)
        self.cache = cache
        self.mocks = dict(mock or {})
        self.max_parameter_bytes = max_parameter_bytes
        self._prior: dict[str, TaskRecord] = {t.path: t for t in store.tasks(run.run_id)} if resume else {}
        self._adoptable = {
            t.path for t in self._prior.values() if adopt and t.state == TaskState.RUNNING and t.attempts
        }
        self._premade_folders: set[str] = set()  # tasks whose output folder is made and still empty
        self.workspace = workspace.for_run(spec, run)
        self.workspace_view = backend.workspace_view(self.workspace) if self.workspace is not None else None
        self.run_info = RunInfo(run_id=run.run_id, root=root, workspace=self.workspace)
        self.task_root = self.root_view.path
        values = attempts.pipeline_values(spec, run.run_id, run.created_at, self.root_view.uri)
        if self.workspace_view is not None:
            values[workspace.VALUE_NAME] = self.workspace_view.path
        self.context = attempts.RunContext(
            spec=spec,
            run_id=run.run_id,
            task_root=self.task_root,
            task_uri=self.root_view.uri,
            staged=self.root_view.copies,
            logs_dir=str(logs_dir),
            pipeline_values=values,
            task_timeout=task_timeout,
            workspace=self.workspace,
        )
        self._external = external.ExternalArtifacts(
            self.files, run.run_id, backend.host_files, self._run_workspace()
        )
        self._ready: deque[Node] = deque()
        self._queued: deque[Node] = deque()  # container nodes waiting for a free slot
        self._delayed: list[tuple[float, int, Node]] = []  # (monotonic time, tie-breaker, node): a heap
        self._running = Running(backend)
        self._journal = Journal(store, on_change)
        self._on_event = on_event
        self._root_scope: Scope | None = None
        self._finished = False
        self._failed: list[Node] = []

    # -- public -----------------------------------------------------------------------------------

    def execute(
        self, params: Mapping[str, Any], input_artifacts: Mapping[str, list[ArtifactRef]] | None = None
    ) -> RunState:
        """Run to the end; Ctrl-C cancels every running task, records the run as cancelled and re-raises.

        `input_artifacts`: the root's input artifacts by input name (a rerun's, those its task consumed)."""
        run = self.run_record
        run.state, run.started_at, run.engine_pid = RunState.RUNNING, time.time(), os.getpid()
        run.engine_host = socket.gethostname()
        self.store.save_run_progress(run)
        try:
            self.backend.prepare(self.run_info)
            if self.workspace_view is not None:
                self.workspace_view.prepare()
            root_artifacts = dict(input_artifacts or {})
            self._root_scope = Scope("", self.spec.root, dict(params), root_artifacts, owner=None)
            with YoungOnly() as collector:
                self._open(self._root_scope)
                collector.keep()
                self._loop(collector)
        except CancelRequested:
            self._cancel_all()
            self._finish_run(RunState.CANCELLED, "cancelled with flow cancel")
            return RunState.CANCELLED
        except KeyboardInterrupt:
            self._cancel_all()
            self._finish_run(RunState.CANCELLED, "cancelled by the user")
            raise
        except Exception as exc:  # a bug or the unforeseen: the run must end FAILED, never stay RUNNING
            log.debug("the engine failed", exc_info=True)
            # A backend's error says what it could not do (prepare the run, reach the cluster); others are
            # named by their type.
            unforeseen = not isinstance(exc, BackendError)
            self._abandon(f"the engine failed: {type(exc).__name__}: {exc}" if unforeseen else str(exc))
            return RunState.FAILED
        finally:
            self.backend.cleanup(self.run_info)
        if self._failed:
            first = self._failed[0]
            self._finish_run(RunState.FAILED, f"task {first.path!r} failed: {first.record.error}")
        else:
            self._finish_run(RunState.SUCCEEDED, "")
            self._remove_workspace()
        return run.state

    def _run_workspace(self) -> external.RunWorkspace | None:
        if self.workspace_view is None:
            return None
        return external.RunWorkspace(
            self.workspace_view.files,
            self.context.workspace_path,
            self.context.uri_base,
        )

    def _remove_workspace(self) -> None:
        """Once the run succeeded, its workspace goes, as in Kubeflow; a rerun's is its run's, which goes
        only when that run succeeded too (a failed one may be resumed)."""
        if self.workspace_view is None:
            return
        owner = self.workspace_view.workspace.owner
        if owner == self.run_record.run_id or self.store.run(owner).state == RunState.SUCCEEDED:
            self.workspace_view.remove()

    def recorded(self) -> tuple[Collection[TaskRecord], Collection[ArtifactRecord]]:
        """The task and artifact records of a run this engine drove from its start, as the store has them and
        in its order: a run's result without reading them back. A resumed run's earlier records are only
        in the store."""
        if self._prior:
            raise RuntimeError("a resumed run's records are in the store, not all in its engine")
        return self._journal.saved_tasks.values(), self._journal.saved_artifacts.values()

    # -- the loop ---------------------------------------------------------------------------------

    def _loop(self, collector: YoungOnly) -> None:
        tick = _MIN_TICK
        next_cancel_check = time.monotonic() + _CANCEL_CHECK_SECONDS
        while not self._finished:
            collector.tick()
            if time.monotonic() >= next_cancel_check:
                next_cancel_check = time.monotonic() + _CANCEL_CHECK_SECONDS
                if self.store.run_state(self.run_record.run_id) == RunState.CANCELLING:
                    raise CancelRequested
            progressed = self._drain_ready()
            to_submit = self._claim_slots()
            self._journal.save()
            progressed |= self._submit(to_submit)
            if self._running:
                for node, status in self._running.finished():
                    self._on_container_finished(node, status)
                    progressed = True
            # Completions are saved by the next tick's flush, which comes before anything else is submitted.
            if self._finished:
                break
            if not progressed:
                if not self._running and not self._ready and not self._queued and not self._delayed:
                    raise RuntimeError(
                        "engine stalled: nothing running and nothing ready"
                    )  # a bug, not input
                self.backend.wait(tick)
                tick = min(tick * 2, _MAX_TICK)
            else:
                tick = _MIN_TICK

    def _drain_ready(self) -> bool:
        progressed = bool(self._ready)
        while self._ready:
            self._start(self._ready.popleft())
        return progressed

    def _delay(self, node: Node, seconds: float) -> None:
        """Queue a container node again once `seconds` have passed, without holding up the others."""
        heapq.heappush(self._delayed, (time.monotonic() + seconds, id(node), node))

    def _claim_slots(self) -> list[Node]:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._queued.append(heapq.heappop(self._delayed)[2])
        claimed: list[Node] = []
        while self._queued and len(self._running) + len(claimed) < self.parallelism:
            node = self._queued.popleft()
            if node.path in self._adoptable and self._adopt(node):
                continue
            try:
                self._prepare_attempt(node)
            except FlowError as exc:
                self._finish(node, TaskState.FAILED, exc.message)
                continue
            except (BackendError, RefusedFile) as exc:  # the task's folder cannot be made ready in the root
                node.record.reason = REASON_LOST
                self._finish(node, TaskState.FAILED, f"preparing the task's output folder: {exc}")
                continue
            claimed.append(node)
        return claimed

    def _adopt(self, node: Node) -> bool:
        """Take over the attempt the interrupted engine left in the backend; False when it is not there."""
        self._adoptable.discard(node.path)
        record = node.record
        try:
            spec = attempts.build(node, record.attempts, self.context, self._external.for_task(node))
            handle = self.backend.adopt(spec)
        except (FlowError, BackendError):
            return False
        if handle is None:
            return False
        prior = self._prior[node.path]
        node.attempt_spec = spec
        record.state, record.started_at = TaskState.RUNNING, prior.started_at or time.time()
        record.exit_code, record.reason, record.error = None, "", ""
        record.log_path = spec.log_path
        self._journal.changed(record)
        self._running.add(handle, node, spec.timeout)
        return True

    def _submit(self, nodes: list[Node]) -> bool:
        for node in nodes:
            assert node.attempt_spec is not None
            try:
                handle = self.backend.submit(node.attempt_spec)
            except TemporaryBackendError as exc:
                node.record.state = TaskState.PENDING
                node.record.attempts -= 1
                self._delay(node, exc.delay)
                continue
            except PermanentBackendError as exc:
                node.record.reason = exc.reason
                self._finish(node, TaskState.FAILED, str(exc))
                continue
            except BackendError as exc:
                node.record.reason = REASON_LOST
                self._finish(node, TaskState.FAILED, str(exc))
                continue
            self._running.add(handle, node, node.attempt_spec.timeout)
        return bool(nodes)

    # -- graph ------------------------------------------------------------------------------------

    def _open(self, scope: Scope) -> None:
        """Create the nodes of a DAG instance and queue those with nothing to wait for."""
        dag = scope.component.dag
        assert dag is not None
        for name, task in dag.tasks.items():
            component = self.spec.component(task.component)
            path = scope.child_path(name)
            prior = self._prior.get(path)
            if prior is not None and prior.state.ok and component.dag is None:
                # Resuming: keep the record as it is in the store, so a crash now loses nothing.
                record = dataclasses.replace(prior)
            else:
                record = TaskRecord(
                    run_id=self.run_record.run_id,
                    path=path,
                    name=name,
                    component=task.component,
                    component_digest=self.spec.digests.get(task.component, ""),
                    kind="dag"
                    if component.dag is not None
                    else ("importer" if isinstance(component.executor, Importer) else "container"),
                    parent=scope.path,
                    attempts=prior.attempts if prior is not None else 0,
                )
                self._journal.created(record)
            node = Node(task, component, scope, record, path, waiting_on=len(task.upstream))
            scope.nodes[name] = node
            for upstream in task.upstream:
                scope.dependents.setdefault(upstream, []).append(node)
        scope.unfinished = len(scope.nodes)
        if not scope.nodes:
            self._close(scope)
            return
        self._make_output_folders(scope)
        self._ready.extend(n for n in scope.nodes.values() if n.waiting_on == 0)

    def _make_output_folders(self, scope: Scope) -> None:
        """Make the output folders of the DAG's new container tasks in one call, ahead of their attempts:
        on a cluster each call to the volume is a round trip, which a chain of tasks would pay per task."""
        fresh = [
            node
            for node in scope.nodes.values()
            if isinstance(node.component.executor, Container)
            and (node.component.outputs.parameters or node.component.outputs.artifacts)
            and node.path not in self._prior
        ]
        if not fresh:
            return
        try:
            self.files.make_folders([layout.task_dir(self.run_record.run_id, node.path) for node in fresh])
        except (BackendError, RefusedFile):
            return  # each attempt makes its folder itself, and reports the failure there
        self._premade_folders.update(node.path for node in fresh)

    def _start(self, node: Node) -> None:
        if node.upstream_blocked and node.task.trigger_strategy != ALL_UPSTREAM_COMPLETED:
            self._finish(node, TaskState.SKIPPED_UPSTREAM_FAILED, "an upstream task did not succeed")
            return
        try:
            node.params, node.artifacts = inputs.resolve(node, self.context.task_values, conditions.select)
            node.record.inputs = inputs.describe(node)
            if node.task.condition and not self._condition(node):
                self._finish(node, TaskState.SKIPPED_CONDITION)
                return
        except FlowError as exc:
            self._finish(node, TaskState.FAILED, exc.message)
            return
        if node.component.dag is not None:
            self._start_dag(node)
            return
        mock = self.mocks.get(mocks.site_path(node)) if self.mocks else None
        prior = self._prior.get(node.path)
        if mock is not None:
            self._answer_with_mock(node, mock)
        elif prior is not None and prior.state.ok:  # resuming: this task already succeeded
            self._reuse(node, prior.outputs, self.store.task_artifacts(prior.run_id, prior.path), prior.state)
        elif isinstance(node.component.executor, Importer):
            self._import(node)
        elif not self._cached(node):
            self._queued.append(node)

    def _answer_with_mock(self, node: Node, mock: mocks.Mock) -> None:
        node.record.state, node.record.started_at = TaskState.RUNNING, time.time()
        try:
            node.output_params, node.output_artifacts = mocks.answer(
                mock, node, self.files, Path(self.root), self.run_record.run_id
            )
        except FlowError as exc:
            self._finish(node, TaskState.FAILED, exc.message)
            return
        node.record.outputs, node.record.reason = dict(node.output_params), "mocked"
        self._record_artifacts(node)
        self._finish(node, TaskState.SUCCEEDED)

    def _cached(self, node: Node) -> bool:
        """Finish the node from an earlier identical task's outputs when caching allows; False on a miss."""
        key = caching.cache_key(node, self.backend.name, self._workspace_of(node)) if self.cache else ""
        node.record.cache_key = key
        if not key:
            return False
        hit = self.store.find_cached(key, self.root)
        if hit is None:
            return False
        earlier, arts = hit
        try:
            if len(self.files.exists([a.uri for a in arts])) < len({a.uri for a in arts}):
                return False  # the earlier outputs were deleted from the root
        except BackendError:
            return False  # the root cannot be checked now: run the task
        node.record.reason = f"cached from run {earlier.run_id} task {earlier.path}"
        node.record.started_at = time.time()
        self._reuse(node, earlier.outputs, arts, TaskState.CACHED)
        return True

    def _workspace_of(self, node: Node) -> str:
        """The owner of the workspace the node uses, else "": as in Kubeflow, whose cache fingerprint
        names the run's claim, a task that uses a workspace is reused only within the workspace's run."""
        if self.workspace is None or not workspace.uses(node, self.context.workspace_path):
            return ""
        return self.workspace.owner

    def _start_dag(self, node: Node) -> None:
        node.record.state, node.record.started_at = TaskState.RUNNING, time.time()
        self._journal.changed(node.record)
        if node.task.iterator is None:
            node.children = [
                Scope(node.path, node.component, dict(node.params), dict(node.artifacts), owner=node)
            ]
        else:
            try:
                node.children = loops.iteration_scopes(node, loops.items(node))
            except FlowError as exc:
                self._finish(node, TaskState.FAILED, exc.message)
                return
        node.unfinished_children = len(node.children)
        if node.task.iterator is not None:
            self._tell(LoopOpened(node.path, len(node.children)))
        if not node.children:  # a loop over an empty list
            self._complete_dag(node)
            return
        limit = node.task.iterator.parallelism if node.task.iterator else 0
        opening = node.children[:limit] if limit else node.children
        node.opened_children = len(opening)
        for scope in opening:
            self._open(scope)

    def _import(self, node: Node) -> None:
        node.record.state, node.record.started_at = TaskState.RUNNING, time.time()
        run = self.run_record
        try:
            imported = importer.import_artifact(
                node,
                self.files,
                self.root,
                self.task_root,
                self.context.task_values(node),
                lambda uri, kind, root: self.store.imported_artifacts(run.pipeline, uri, kind, root),
            )
        except FlowError as exc:
            self._finish(node, TaskState.FAILED, exc.message)
            return
        node.output_artifacts = {imported.output: [imported.ref]}
        node.record.reason = imported.reason
        self._journal.artifacts([imported.record(run.run_id, node.path)])
        self._finish(node, TaskState.SUCCEEDED)

    def _close(self, scope: Scope) -> None:
        """All nodes of a DAG instance finished: finish its owner, or the run for the root."""
        owner = scope.owner
        if owner is None:
            self._run_outputs(scope)
            self._finished = True
            return
        owner.unfinished_children -= 1
        if owner.opened_children < len(owner.children):  # parallelismLimit: the next item starts now
            owner.opened_children += 1
            self._open(owner.children[owner.opened_children - 1])
        if owner.unfinished_children == 0:
            self._complete_dag(owner)

    def _complete_dag(self, owner: Node) -> None:
        """Every scope of a DAG or loop task finished: it fails with its first failed task, else succeeds."""
        failed = [n for s in owner.children for n in s.nodes.values() if n.record.state == TaskState.FAILED]
        if failed:
            self._finish(owner, TaskState.FAILED, f"task {failed[0].path!r} failed", propagated=True)
            return
        try:
            if owner.task.iterator is not None:
                owner.output_params, owner.output_artifacts = collected_outputs(owner)
            else:
                owner.output_params, owner.output_artifacts = dag_outputs(owner.children[0])
        except FlowError as exc:
            self._finish(owner, TaskState.FAILED, exc.message)
            return
        owner.record.outputs = dict(owner.output_params)
        self._finish(owner, TaskState.SUCCEEDED)

    def _run_outputs(self, scope: Scope) -> None:
        try:
            params, arts = dag_outputs(scope)
        except FlowError as exc:
            if not self._failed:
                self.run_record.error = exc.message
            params, arts = {}, {}
        self.run_record.outputs = {
            "parameters": params,
            "artifacts": {name: [ref.uri for ref in refs] for name, refs in arts.items()},
        }

    def _finish(self, node: Node, state: TaskState, error: str = "", *, propagated: bool = False) -> None:
        """Record a node's final state and release what waits for it. `propagated`: a DAG failed because
        a task inside it failed (which is already counted)."""
        record = node.record
        record.state, record.error = state, error
        record.finished_at = time.time()
        if record.started_at is None and state in (TaskState.FAILED, TaskState.SUCCEEDED):
            record.started_at = record.finished_at
        self._journal.changed(record)
        if state == TaskState.FAILED and not propagated:
            self._failed.append(node)
        blocking = state in _BLOCKING
        for dependent in node.scope.dependents.get(node.task.name, ()):
            if blocking:
                dependent.upstream_blocked = True
            dependent.waiting_on -= 1
            if dependent.waiting_on == 0:
                self._ready.append(dependent)
        scope = node.scope
        scope.unfinished -= 1
        if scope.unfinished == 0:
            self._close(scope)

    # -- container tasks --------------------------------------------------------------------------

    def _prepare_attempt(self, node: Node) -> None:
        """Resolve the next attempt of a container task into a TaskSpec and record it as running."""
        record = node.record
        # A failed earlier attempt, or a run interrupted mid-task, may have left outputs: start clean.
        # And as KFP's launcher does, make the output folder: a container component writes its outputs
        # without creating folders.
        has_outputs = bool(node.component.outputs.parameters or node.component.outputs.artifacts)
        premade = node.path in self._premade_folders and not record.attempts
        self._premade_folders.discard(node.path)
        if not premade and (has_outputs or record.attempts or node.path in self._prior):
            # Task paths are made of names checked safe at load time, so they stay in the root.
            self.files.reset(layout.task_dir(self.run_record.run_id, node.path), create=has_outputs)
        reached = self._external.for_task(node)
        node.attempt_spec = attempts.build(node, record.attempts + 1, self.context, reached)
        record.attempts += 1
        record.state, record.started_at = TaskState.RUNNING, time.time()
        record.exit_code, record.reason, record.error = None, "", ""
        record.log_path = node.attempt_spec.log_path
        self._journal.changed(record)

    def _on_container_finished(self, node: Node, status: TaskStatus) -> None:
        record = node.record
        record.exit_code = status.exit_code
        record.peak_memory_bytes, record.cpu_seconds = status.peak_memory_bytes, status.cpu_seconds
        if status.phase == Phase.SUCCEEDED:
            try:
                node.output_params, node.output_artifacts = outputs.collect(
                    self.files,
                    self.root,
                    self.task_root,
                    self.run_record.run_id,
                    node.path,
                    node.component.outputs,
                    node.task.where,
                    self.max_parameter_bytes,
                )
                self._record_artifacts(node)
            except FlowError as exc:
                record.reason = "OutputError"
                self._fail_attempt(node, exc.message)
                return
            except BackendError as exc:  # the root could not be read (a cluster volume out of reach)
                record.reason = REASON_LOST
                self._fail_attempt(node, f"reading the task's outputs: {exc}")
                return
            record.outputs = dict(node.output_params)
            self._finish(node, TaskState.SUCCEEDED)
            return
        record.reason = status.reason or ""
        message = status.message or f"exited with code {status.exit_code}"
        self._fail_attempt(node, tracebacks.task_error(message, status.exit_code, record.log_path))

    def _fail_attempt(self, node: Node, error: str) -> None:
        """A container attempt failed: queue the next one after its backoff, or fail the task."""
        record, policy = node.record, node.task.retry
        if retries.should_retry(policy, record.attempts, record.reason):
            record.state, record.error, record.finished_at = TaskState.PENDING, error, time.time()
            self._journal.changed(record)
            delay = retries.backoff_seconds(policy, record.attempts) if policy else 0.0
            self._tell(AttemptFailed(node.path, record.attempts, error, delay))
            self._delay(node, delay)
            return
        self._finish(node, TaskState.FAILED, error)

    def _tell(self, event: EngineEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _record_artifacts(self, node: Node) -> None:
        """Digest the node's output artifacts and queue their records."""
        if not node.output_artifacts:
            return
        run_id = self.run_record.run_id
        self._journal.artifacts(
            outputs.digest_artifacts(self.files, run_id, node.path, node.output_artifacts, node.task.where)
        )

    def _reuse(
        self, node: Node, outputs: dict[str, Any], arts: list[ArtifactRecord], state: TaskState
    ) -> None:
        """Finish a node with outputs recorded earlier (a cache hit, or a task a resumed run already ran)."""
        node.output_params = dict(outputs)
        node.record.outputs = dict(outputs)
        for art in arts:
            ref = ArtifactRef(
                name=art.name, uri=art.uri, type=art.type, metadata=art.metadata, digest=art.digest
            )
            node.output_artifacts.setdefault(art.name, []).append(ref)
        run_id = self.run_record.run_id
        self._journal.artifacts(dataclasses.replace(a, run_id=run_id, task_path=node.path) for a in arts)
        finished_at = node.record.finished_at if node.path in self._prior else None
        self._finish(node, state)
        if finished_at is not None:  # a resumed run keeps when its earlier tasks really finished
            node.record.finished_at = finished_at

    def _cancel_all(self) -> None:
        for node in self._running.stop_all():
            node.record.state, node.record.reason = TaskState.CANCELLED, REASON_CANCELLED
            node.record.finished_at = time.time()
            self._journal.changed(node.record)
        self._journal.save()

    # -- conditions and selectors -----------------------------------------------------------------

    def _condition(self, node: Node) -> bool:
        assert node.task.condition is not None
        return conditions.condition_holds(
            node.task.condition, node.params, f"{node.task.where}.triggerPolicy"
        )

    # -- store ------------------------------------------------------------------------------------

    def _abandon(self, error: str) -> None:
        """Stop what runs and record the run FAILED with `error` (one line), so `flow resume` continues it."""
        message = " ".join(error.split())
        try:
            self._cancel_all()
        except Exception:  # the backend may be what failed: the run is recorded failed all the same
            log.debug("cancelling the tasks failed", exc_info=True)
        self.run_record.error = message
        self._finish_run(RunState.FAILED, message)

    def _finish_run(self, state: RunState, error: str) -> None:
        self._journal.save()
        run = self.run_record
        run.state, run.finished_at = state, time.time()
        run.error = run.error or error
        self.store.save_run_progress(run)
