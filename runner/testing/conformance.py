"""The backend conformance suite: written once, run by every backend, a third party's included.

    from runner.testing.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        backend = "mybackend"                      # its name in the flow.backends entry points
        image_map = {"busybox:latest": "registry.local/busybox:latest"}

        def leftovers(self, run_id):               # what of the run is still in the runtime
            return my_runtime.list(label=f"flow.run={run_id}")

A backend passes when every test passes. The same pipelines run on the process backend too, and their
outputs (parameter values and artifact content digests) must match: parity is a test, not a promise.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from backends.base import REASON_TIMEOUT, Backend
from runner import api, reruns
from runner.api import RunResult
from runner.engine.external import IMPORTS
from runner.plugins import create_backend
from runner.runs import removal
from runner.store import RunState, Store, TaskState
from runner.testing.assertions import assert_same_outputs, assert_succeeded
from runner.testing.session import FlowSession
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline

WAIT_SECONDS = 60
# Compiled by kfp 2.17.3 from tests/integration/kfp_conformance_pipelines.py (a test checks they agree).
KFP_INPUTS = Path(__file__).with_name("kfp_inputs.yaml")
# Compiled by kfp 2.17.3 from tests/integration/kfp_workspace.py (tests/integration/test_workspace.py checks
# they agree): a task writes a note into the run's workspace, another reads it there, a third is not given it.
WORKSPACE = Path(__file__).with_name("kfp_workspace.yaml")
# Compiled as WORKSPACE: a file imported with `download_to_workspace=True`, read from the workspace by a
# container component and by a lightweight Python one.
WORKSPACE_IMPORT = Path(__file__).with_name("kfp_workspace_import.yaml")
# Compiled by kfp 2.17.3 from tests/integration/kfp_conformance_pipelines.py, as KFP_INPUTS.
KFP_ONE_IMPORT = Path(__file__).with_name("kfp_one_import.yaml")
KFP_UNREADABLE_IMPORTS = Path(__file__).with_name("kfp_unreadable_imports.yaml")
IMPORT_SOURCE = "conformance"  # the `source` given to KFP_ONE_IMPORT, whose importer's metadata holds it
WIRING = """
pipelineInfo: {name: conformance-wiring}
schemaVersion: 2.1.0
components:
  comp-produce:
    executorLabel: exec-produce
    inputDefinitions: {parameters: {n: {parameterType: NUMBER_INTEGER}}}
    outputDefinitions:
      parameters: {doubled: {parameterType: NUMBER_INTEGER}}
      artifacts: {table: {artifactType: {schemaTitle: system.Dataset, schemaVersion: 0.0.1}}}
  comp-consume:
    executorLabel: exec-consume
    inputDefinitions:
      parameters: {doubled: {parameterType: NUMBER_INTEGER}}
      artifacts: {table: {artifactType: {schemaTitle: system.Dataset, schemaVersion: 0.0.1}}}
    outputDefinitions:
      parameters: {summary: {parameterType: STRING}}
deploymentSpec:
  executors:
    exec-produce:
      container:
        image: busybox:latest
        command: [sh, -c, 'echo $(($0 * 2)) > "$1"; seq 1 $0 > "$2"']
        args: ["{{$.inputs.parameters['n']}}", "{{$.outputs.parameters['doubled'].output_file}}",
               "{{$.outputs.artifacts['table'].path}}"]
    exec-consume:
      container:
        image: busybox:latest
        command: [sh, -c, 'printf "%s rows, doubled %s" "$(wc -l < "$1" | tr -d " ")" "$0" > "$2"']
        args: ["{{$.inputs.parameters['doubled']}}", "{{$.inputs.artifacts['table'].path}}",
               "{{$.outputs.parameters['summary'].output_file}}"]
root:
  inputDefinitions: {parameters: {n: {parameterType: NUMBER_INTEGER, defaultValue: 4}}}
  dag:
    tasks:
      produce:
        componentRef: {name: comp-produce}
        taskInfo: {name: produce}
        cachingOptions: {enableCache: true}
        inputs: {parameters: {n: {componentInputParameter: n}}}
      consume:
        componentRef: {name: comp-consume}
        taskInfo: {name: consume}
        cachingOptions: {enableCache: true}
        inputs:
          parameters: {doubled: {taskOutputParameter: {producerTask: produce, outputParameterKey: doubled}}}
          artifacts: {table: {taskOutputArtifact: {producerTask: produce, outputArtifactKey: table}}}
"""
LOOP_AND_CONDITION = """
pipelineInfo: {name: conformance-control-flow}
schemaVersion: 2.1.0
components:
  comp-echo:
    executorLabel: exec-echo
    inputDefinitions: {parameters: {word: {parameterType: STRING}}}
    outputDefinitions: {parameters: {said: {parameterType: STRING}}}
  comp-for-loop-1:
    inputDefinitions: {parameters: {pipelinechannel--loop-item: {parameterType: STRING}}}
    dag:
      tasks:
        condition-2:
          componentRef: {name: comp-condition-2}
          taskInfo: {name: condition-2}
          inputs:
            parameters: {pipelinechannel--loop-item: {componentInputParameter: pipelinechannel--loop-item}}
          triggerPolicy: {condition: "inputs.parameter_values['pipelinechannel--loop-item'] != 'skip'"}
  comp-condition-2:
    inputDefinitions: {parameters: {pipelinechannel--loop-item: {parameterType: STRING}}}
    dag:
      tasks:
        echo:
          componentRef: {name: comp-echo}
          taskInfo: {name: echo}
          inputs: {parameters: {word: {componentInputParameter: pipelinechannel--loop-item}}}
deploymentSpec:
  executors:
    exec-echo:
      container:
        image: busybox:latest
        command: [sh, -c, 'printf "%s!" "$0" > "$1"', "{{$.inputs.parameters['word']}}",
                  "{{$.outputs.parameters['said'].output_file}}"]
root:
  dag:
    tasks:
      for-loop-1:
        componentRef: {name: comp-for-loop-1}
        taskInfo: {name: for-loop-1}
        parameterIterator:
          itemInput: pipelinechannel--loop-item
          items: {raw: '["a", "skip", "c"]'}
        iteratorPolicy: {parallelismLimit: 2}
"""


def wait_until_running(store: Store, task: str) -> str:
    """The id of the latest run once its task `task` is running."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        runs = store.runs(1)
        record = store.task(runs[0].run_id, task) if runs else None
        if record is not None and record.state == TaskState.RUNNING:
            return runs[0].run_id
        time.sleep(0.1)
    raise AssertionError(f"task {task} never started")


def _a_copy_in_the_run(uri: str, result: RunResult, name: str) -> bool:
    """Whether a task's URI names the run's copy of an imported artifact (engine/external.py)."""
    return f"/{result.run_id}/{IMPORTS}/" in uri and uri.endswith(f"/{name}")


class BackendConformance:
    """Subclass with `backend` set; override `leftovers` so cancellation cleanup can be checked."""

    backend: ClassVar[str] = ""
    image_map: ClassVar[dict[str, str]] = {}
    backend_options: ClassVar[dict[str, Any]] = {}  # more options for the backend's constructor
    records_resource_use: ClassVar[bool] = True
    enforces_limits: ClassVar[bool] = True  # a task runs under its memory and CPU limits (its cgroup's)
    # How long the resource-use test keeps a task busy: a backend that samples (Kubernetes' kubelet
    # refreshes its figures every second or so) needs a task that lives through a few samples.
    busy_iterations: ClassVar[int] = 200_000

    def make_backend(self) -> Backend:
        """The backend under test; images are never pulled, so a missing one fails fast and offline."""
        return create_backend(self.backend, image_map=self.image_map, pull="never", **self.backend_options)

    def leftovers(self, run_id: str) -> list[str]:
        """What the run still has in the backend's runtime (containers, pods...); [] when all is clean."""
        raise NotImplementedError("a conformance subclass must say how to find a run's leftovers")

    def pipeline_root(self) -> str | None:
        """The runs' pipeline root (an `s3://bucket/prefix`, say); None for the backend's own default."""
        return None

    def s3_object(self, request: pytest.FixtureRequest, content: bytes) -> str | None:
        """An s3:// URI outside the runs' root of an object holding `content`, which flow reads with the
        S3 settings of the test's environment; None where no S3 store is at hand (that case skips)."""
        return None

    def counted(self, name: str) -> str:
        """Shell that counts how many times it ran under `name` (placeholders allowed) and prints the count,
        across a task's attempts: by default a file in the pipeline root, which every attempt sees there.
        A root tasks cannot share files through (an object store) needs another counter."""
        counter = f'"{{{{$.pipeline_root}}}}/{name}"'
        return f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; echo $n"

    def workspace_exists(self, session: FlowSession, owner: str) -> bool:
        """Whether the workspace of the run `owner` is still there: by default its folder under FLOW_HOME."""
        return (session.workdir / "workspaces" / owner).exists()

    @pytest.fixture
    def workspace_storage(self) -> Iterator[None]:
        """What the workspaces of two runs of WORKSPACE need in the runtime (on a cluster without a
        provisioner: volumes of the pipeline's storage class); nothing by default."""
        yield

    def resume_options(self) -> dict[str, Any]:
        """The backend options `flow resume` is given, to reach the backend under test again."""
        return {"image_map": self.image_map, "pull": "never", **self.backend_options}

    @pytest.fixture
    def session(self, tmp_path: Path) -> Iterator[FlowSession]:
        backend = self.make_backend()
        try:
            with FlowSession(backend, tmp_path / "flow", root=self.pipeline_root()) as session:
                yield session
        finally:
            backend.close()

    # -- the suite --------------------------------------------------------------------------------

    def test_wiring_parameters_and_artifacts(self, session: FlowSession) -> None:
        result = session.run(WIRING, {"n": 5})
        assert_succeeded(result)
        assert result.tasks["produce"].outputs == {"doubled": 10}
        table = result.tasks["produce"].artifacts["table"]
        assert session.read_artifact(result, table).split() == [b"1", b"2", b"3", b"4", b"5"]
        assert table.uri == f"{result.run_id}/produce/table"
        assert result.tasks["consume"].outputs == {"summary": "5 rows, doubled 10"}

    def test_same_outputs_as_the_process_backend(self, session: FlowSession, tmp_path: Path) -> None:
        here = session.run(WIRING, {"n": 7}, cache=False)
        with FlowSession("process", tmp_path / "reference") as reference:
            there = reference.run(WIRING, {"n": 7}, cache=False)
        assert_same_outputs(here, there)

    def test_independent_tasks_run_in_parallel(self, session: FlowSession) -> None:
        result = session.run(pipeline({f"sleep-{i}": Step("sleep 2") for i in range(3)}), parallelism=3)
        assert_succeeded(result)
        tasks = session.store.tasks(result.run_id) if session.store else []
        assert max(t.started_at or 0 for t in tasks) < min(t.finished_at or 0 for t in tasks), "no overlap"

    def test_a_failure_stops_what_depends_on_it_only(self, session: FlowSession) -> None:
        steps = {
            "fail": Step("for i in 1 2 3 4 5; do echo line-$i; done; exit 3"),
            "after-fail": Step("echo never", after=("fail",)),
            "independent": Step("echo fine"),
        }
        result = session.run(pipeline(steps))
        assert result.state == RunState.FAILED and "fail" in result.error
        assert "exited with code 3" in result.tasks["fail"].error and "line-5" in result.tasks["fail"].error
        assert result.tasks["after-fail"].state == TaskState.SKIPPED_UPSTREAM_FAILED
        assert result.tasks["independent"].state == TaskState.SUCCEEDED

    def test_logs_are_kept(self, session: FlowSession) -> None:
        result = session.run(
            pipeline({"chatty": Step("for i in $(seq 1 200); do echo line-$i; done; echo err >&2")})
        )
        assert_succeeded(result)
        lines = result.tasks["chatty"].log().splitlines()
        # stdout keeps its order; where stderr's line lands among them is the runtime's business.
        assert [line for line in lines if line.startswith("line-")] == [f"line-{i}" for i in range(1, 201)]
        assert "err" in lines

    def test_resource_use_is_recorded(self, session: FlowSession) -> None:
        if not self.records_resource_use:
            pytest.skip(f"{self.backend} does not record resource use")
        busy = f"i=0; while [ $i -lt {self.busy_iterations} ]; do i=$((i+1)); done"
        result = session.run(pipeline({"busy": Step(busy)}))
        assert_succeeded(result)
        record = session.store.task(result.run_id, "busy") if session.store else None
        assert record is not None and record.peak_memory_bytes and record.cpu_seconds

    def test_retries_run_a_flaky_task_again(self, session: FlowSession) -> None:
        # One counter per run: a cluster's volume outlives the test.
        script = f"n=$({self.counted('flaky-count-{{$.pipeline_job_uuid}}')}); [ $n -ge 3 ]"
        result = session.run(pipeline({"flaky": Step(script, retries=3)}))
        assert_succeeded(result)
        assert result.tasks["flaky"].attempts == 3

    def test_a_task_past_its_deadline_fails_with_timeout(self, session: FlowSession) -> None:
        result = session.run(pipeline({"slow": Step("sleep 60")}), task_timeout=1)
        record = session.store.task(result.run_id, "slow") if session.store else None
        assert result.state == RunState.FAILED and record is not None and record.reason == REASON_TIMEOUT

    def test_caching_reuses_an_identical_task(self, session: FlowSession) -> None:
        first, second = session.run(WIRING, {"n": 3}), session.run(WIRING, {"n": 3})
        assert first.tasks["produce"].state == TaskState.SUCCEEDED
        assert second.tasks["produce"].state == TaskState.CACHED and second.tasks["produce"].attempts == 0
        assert second.tasks["consume"].outputs == first.tasks["consume"].outputs

    def test_loops_and_conditions(self, session: FlowSession) -> None:
        result = session.run(LOOP_AND_CONDITION)
        assert_succeeded(result)
        said = {path: task.outputs.get("said") for path, task in result.tasks.items() if task.name == "echo"}
        assert said == {"for-loop-1/0/condition-2/echo": "a!", "for-loop-1/2/condition-2/echo": "c!"}
        assert result.tasks["for-loop-1/1/condition-2"].state == TaskState.SKIPPED_CONDITION

    # -- importers (KFP_ONE_IMPORT, KFP_UNREADABLE_IMPORTS) ---------------------------------------------

    def test_an_imported_artifact_is_the_uri_given(self, session: FlowSession, tmp_path: Path) -> None:
        data = tmp_path / "imported.txt"
        data.write_text("imported text")
        result = session.run(KFP_ONE_IMPORT, {"uri": str(data), "source": IMPORT_SOURCE})
        assert_succeeded(result)
        imported = result.tasks["importer"].artifacts["artifact"]
        # Its metadata's placeholders filled, in keys and values, at any depth.
        source = IMPORT_SOURCE
        assert imported.metadata == {
            "source": source,
            "label": f"from-{source}",
            "list": [source, 1],
            source: "as-key",
        }
        assert imported.uri == str(data)
        content, seen = result.tasks["read-artifact"].outputs["text"].split("|")
        assert content == "imported text"
        # Tasks on this machine read the file at its path (in a container, mounted there); pods a copy.
        assert seen == str(data) or _a_copy_in_the_run(seen, result, data.name), seen

    def test_an_import_flow_cannot_read_fails_its_reader(self, session: FlowSession, tmp_path: Path) -> None:
        missing, remote = tmp_path / "never-written.txt", "gs://flow-tests/notes.txt"
        result = session.run(KFP_UNREADABLE_IMPORTS, {"missing_uri": str(missing), "remote_uri": remote})
        assert result.state == RunState.FAILED
        # As in KFP, importing only records the URI: the importers succeed, what reads the artifact fails.
        assert result.tasks["importer"].state == result.tasks["importer-2"].state == TaskState.SUCCEEDED
        assert result.tasks["importer"].artifacts["artifact"].uri == str(missing)
        assert result.tasks["read-artifact"].error == f"the imported artifact {missing} does not exist"
        assert result.tasks["read-artifact-2"].error == (
            f"cannot read the imported artifact {remote}: flow reads local paths and s3:// URIs, not gs://"
        )

    def test_an_imported_socket_is_never_handed_to_a_task(self, session: FlowSession, tmp_path: Path) -> None:
        # Docker's own socket is a file too: mounted into a container, it would give the task the host.
        path = tmp_path / "engine.sock"
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listening.bind(str(path))
            result = session.run(KFP_ONE_IMPORT, {"uri": str(path), "source": IMPORT_SOURCE})
        finally:
            listening.close()
        assert result.state == RunState.FAILED and result.tasks["importer"].state == TaskState.SUCCEEDED
        assert result.tasks["read-artifact"].error == (
            f"cannot read the imported artifact {path}: not a regular file or folder"
        )

    def test_an_s3_object_is_imported(self, session: FlowSession, request: pytest.FixtureRequest) -> None:
        uri = self.s3_object(request, b"object text")
        if uri is None:
            pytest.skip(f"no S3 store at hand for the {self.backend} backend's tests")
        result = session.run(KFP_ONE_IMPORT, {"uri": uri, "source": IMPORT_SOURCE})
        assert_succeeded(result)
        assert result.tasks["importer"].artifacts["artifact"].uri == uri
        content, seen = result.tasks["read-artifact"].outputs["text"].split("|")
        assert content == "object text" and _a_copy_in_the_run(seen, result, uri.rsplit("/", 1)[-1]), seen

    def test_cancelling_leaves_nothing_behind(self, session: FlowSession) -> None:
        outcome: dict[str, RunResult] = {}
        held = pipeline({"first": Step("echo first"), "held": Step(WAIT_FOR_RELEASE, after=("first",))})
        runner = threading.Thread(target=lambda: outcome.update(result=session.run(held)))
        runner.start()
        assert session.store is not None
        # The engine's thread owns the session's connection; this thread asks through its own, as
        # `flow cancel` would from another terminal.
        with session.store.open_another() as store:
            run_id = wait_until_running(store, "held")
            store.request_cancel(run_id)
        runner.join(WAIT_SECONDS)
        assert not runner.is_alive() and outcome["result"].state == RunState.CANCELLED
        deadline = time.monotonic() + 10
        while self.leftovers(run_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.leftovers(run_id) == []

    def test_kfp_inputs_as_kubeflow_resolves_them(self, session: FlowSession) -> None:
        """A kfp-compiled pipeline (KFP_INPUTS) whose inputs only the backend's rules make right: f-strings
        in a lightweight and a container component, in a loop and a nested pipeline; values of any type
        given to STRING inputs (as their text); resources from parameters, checked when the task starts."""
        result = session.run(KFP_INPUTS, cache=False)
        outputs = {path: task.outputs for path, task in result.tasks.items() if task.kind != "dag"}
        assert outputs["show"] == {"Output": "flow-3"}
        assert outputs["shout"] == {"said": "flow and 3 <= 5!"}
        assert outputs["conformance-kfp-inner/show"] == {"Output": "inner outer flow"}
        # The loop's items are 3, 2.5, true and {"k": [1]}: each given to a STRING input, and in an f-string.
        assert [outputs[f"for-loop-1/{i}/pair"]["Output"] for i in range(4)] == [
            "3|item 3",
            "2.5|item 2.5",
            "true|item true",
            '{"k":[1]}|item {"k":[1]}',
        ]
        # The double 3.0 is `3` in the ExecutorInput, as protobuf's JSON writes it: kfp's code sees an int.
        assert outputs["number-kind"] == {"Output": "int 3"}
        if self.enforces_limits:  # the CPU quota is in microseconds of each default period (100 ms)
            assert outputs["limits"] == {"said": f"{64 * 2**20} {int(0.5 * 100_000)}"}
        # The bad value fails its task alone, with one line, before anything runs.
        assert result.state == RunState.FAILED
        bad = result.tasks["show-2"]
        assert bad.state == TaskState.FAILED and bad.attempts == 0
        assert (
            bad.error
            == "resources.resourceCpuLimit from input 'pipelinechannel--bad_cpu': not a CPU quantity: 'lots'"
        )
        assert all(
            task.state == TaskState.SUCCEEDED for path, task in result.tasks.items() if path != "show-2"
        )

    def test_a_workspace_is_shared_by_the_tasks_given_it(
        self, session: FlowSession, workspace_storage: None
    ) -> None:
        first = session.run(WORKSPACE)
        assert_succeeded(first)
        assert first.outputs == {"Output": "shared"}
        assert first.tasks["probe"].outputs == {"seen": "absent\n"}  # mounted only where it is given
        assert not self.workspace_exists(session, first.run_id)  # gone once the run succeeded
        # The same inputs again: a task that uses a workspace is never served from another run's.
        second = session.run(WORKSPACE)
        assert second.tasks["write-note"].state == TaskState.SUCCEEDED
        assert second.tasks["probe"].state == TaskState.CACHED
        assert second.outputs == {"Output": "shared"}

    def test_an_import_into_the_workspace_is_read_there(
        self, session: FlowSession, workspace_storage: None, tmp_path: Path
    ) -> None:
        """kfp 2.17's `dsl.importer(download_to_workspace=True)`: as KFP's backend, the content is copied to
        `.artifacts/` + the path the URI names, in the run's workspace, and the consumers get the URI given
        with a path there (kfp.local copies it under the importer's name; the backend is followed)."""
        data = tmp_path / "imported.txt"
        data.write_text("imported text")
        result = session.run(WORKSPACE_IMPORT, {"uri": str(data)})
        assert_succeeded(result)
        assert result.tasks["importer"].artifacts["artifact"].uri == str(data)
        content, path, uri = result.outputs["Output"].split("|")
        assert content == "imported text"
        if path.startswith("/kfp-workspace/"):  # in containers: KFP's own path, and the URI imported
            assert (path, uri) == (f"/kfp-workspace/.artifacts{data}", str(data))
        else:  # the process backend's tasks see the workspace at its folder, and get the copy's path as URI
            assert path == uri == f"{session.workdir}/workspaces/{result.run_id}/.artifacts{data}"
        # kfp's own Artifact.path, in a lightweight Python component, names the same copy.
        assert result.tasks["read-imported-in-python"].outputs == {"Output": f"imported text|{path}"}
        assert not self.workspace_exists(session, result.run_id)  # the copy goes with the workspace
        remote = "gs://flow-tests/notes.txt"
        failed = session.run(WORKSPACE_IMPORT, {"uri": remote})
        assert failed.state == RunState.FAILED and failed.tasks["importer"].state == TaskState.SUCCEEDED
        unreadable = (
            f"cannot read the imported artifact {remote}: flow reads local paths and s3:// URIs, not gs://"
        )
        assert (
            failed.tasks["read-imported"].error == failed.tasks["read-imported-in-python"].error == unreadable
        )

    def test_an_s3_object_imported_into_the_workspace_is_read_there(
        self, session: FlowSession, workspace_storage: None, request: pytest.FixtureRequest
    ) -> None:
        uri = self.s3_object(request, b"object text")
        if uri is None:
            pytest.skip(f"no S3 store at hand for the {self.backend} backend's tests")
        result = session.run(WORKSPACE_IMPORT, {"uri": uri})
        assert_succeeded(result)
        content, path, task_uri = result.outputs["Output"].split("|")
        kfp_path = f".artifacts/s3/{uri.removeprefix('s3://')}"  # KFP's /s3/BUCKET/KEY, in the workspace
        assert content == "object text" and path.endswith(f"/{kfp_path}")
        assert task_uri == (uri if path.startswith("/kfp-workspace/") else path)
        assert result.tasks["read-imported-in-python"].outputs == {"Output": f"object text|{path}"}

    def test_resume_and_rerun_find_the_workspace_again(
        self, session: FlowSession, workspace_storage: None
    ) -> None:
        # read-note succeeds from its second run: the count it keeps in the workspace must be found.
        failed = session.run(WORKSPACE, {"runs_needed": 2, "text": "kept"})
        assert failed.state == RunState.FAILED and failed.tasks["read-note"].state == TaskState.FAILED
        assert self.workspace_exists(session, failed.run_id)  # kept for a resume, as Kubeflow keeps it
        again = reruns.rerun(failed.run_id, "read-note", backend=session.backend, store=session.store)
        assert_succeeded(again)
        assert again.outputs == {"note": "kept"}
        assert self.workspace_exists(session, failed.run_id)  # still its run's, which may be resumed
        resumed = api.resume(failed.run_id, store=session.store, backend_options=self.resume_options())
        assert_succeeded(resumed)
        assert resumed.outputs == {"Output": "kept"} and resumed.tasks["write-note"].attempts == 1
        assert not self.workspace_exists(session, failed.run_id)

    def test_removing_a_run_that_kept_its_workspace_removes_the_workspace(
        self, session: FlowSession, workspace_storage: None
    ) -> None:
        failed = session.run(WORKSPACE, {"runs_needed": 2, "text": "kept"})
        assert failed.state == RunState.FAILED
        assert self.workspace_exists(session, failed.run_id)
        assert session.store is not None
        record = session.store.run(failed.run_id)
        assert removal.remove_run(session.store, record, self.resume_options()) == []
        assert not self.workspace_exists(session, failed.run_id)
