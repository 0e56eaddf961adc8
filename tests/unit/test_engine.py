"""The engine on the FakeBackend: ordering, parallelism, failures, data wiring, nested DAGs, the store."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from irbuild import (
    Pipeline,
    artifact_from_input,
    artifact_from_task,
    const,
    from_input,
    from_task,
    select,
    select_artifact,
    task,
)

import runner
from backends.base import PermanentBackendError, RunInfo, TaskSpec, TaskStatus, TemporaryBackendError
from backends.fake import FakeBackend, Outcome, executor_input
from runner import RunResult, api
from runner.store import RunState, SQLiteStore, Store, TaskRecord, TaskState

Outcomes = dict[str, Outcome] | Callable[[TaskSpec], Outcome]


@dataclass
class Ran:
    result: RunResult
    backend: FakeBackend
    store: Store

    def spec(self, path: str) -> TaskSpec:
        """The TaskSpec the engine submitted for the task at `path` (its last attempt)."""
        return next(s for s in reversed(self.backend.submitted) if s.task_path == path)

    def ticks(self, path: str) -> tuple[int, int]:
        """The fake backend's (submit tick, finish tick) of the task at `path`."""
        fake = self.backend.tasks[self.spec(path).name]
        assert fake.finished_tick is not None
        return fake.started_tick, fake.finished_tick

    def argv(self, path: str) -> list[str]:
        spec = self.spec(path)
        return [*spec.command, *spec.args]

    def inputs(self, path: str) -> dict[str, Any]:
        loaded: dict[str, Any] = executor_input(self.spec(path))["inputs"]
        return loaded

    @property
    def submitted(self) -> list[str]:
        return [s.task_path for s in self.backend.submitted]

    @property
    def tasks(self) -> dict[str, TaskRecord]:
        return {t.path: t for t in self.store.tasks(self.result.run_id)}

    def state(self, path: str) -> TaskState:
        return self.tasks[path].state


RunFn = Callable[..., Ran]


@pytest.fixture
def run_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunFn]:
    """Run a Pipeline on a FakeBackend; `outcomes` maps task paths to Outcomes (others succeed)."""
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    store = SQLiteStore(tmp_path / "db")

    def run(
        pipeline: Pipeline,
        outcomes: Outcomes | None = None,
        backend: FakeBackend | None = None,
        **kwargs: Any,
    ) -> Ran:
        table = outcomes or {}
        script = table if callable(table) else (lambda spec: table.get(spec.task_path, Outcome()))
        backend = backend or FakeBackend()
        backend.script = script
        result = runner.run(pipeline.yaml(), backend=backend, root=tmp_path / "root", store=store, **kwargs)
        # A run's result is built from the engine's records: it must be what the store gives back.
        assert result == runner.result(store, result.run_id)
        return Ran(result, backend, store)

    yield run
    store.close()


def steps(tasks: dict[str, dict[str, Any]], **root: Any) -> Pipeline:
    """A pipeline of tasks using one component with no inputs or outputs."""
    return Pipeline("steps").container("comp-step").root(tasks, **root)


def chain(*names: str) -> dict[str, dict[str, Any]]:
    return {name: task("comp-step", after=names[i - 1 : i]) for i, name in enumerate(names)}


# -- ordering and parallelism ---------------------------------------------------------------------


def test_a_chain_runs_in_order(run_pipeline: RunFn) -> None:
    ran = run_pipeline(steps(chain("c", "a", "b")), {"a": Outcome(polls=3)})
    assert ran.result.state == RunState.SUCCEEDED
    assert ran.submitted == ["c", "a", "b"]
    assert ran.ticks("a")[0] >= ran.ticks("c")[1]
    assert ran.ticks("b")[0] >= ran.ticks("a")[1]
    assert ran.backend.max_concurrent == 1


def test_diamond_join_waits_for_both_branches(run_pipeline: RunFn) -> None:
    tasks = {
        "top": task("comp-step"),
        "slow": task("comp-step", after=("top",)),
        "fast": task("comp-step", after=("top",)),
        "join": task("comp-step", after=("slow", "fast")),
    }
    ran = run_pipeline(steps(tasks), {"slow": Outcome(polls=5)})
    assert ran.submitted[0] == "top"
    assert ran.submitted[-1] == "join"
    assert ran.ticks("join")[0] >= ran.ticks("slow")[1] > ran.ticks("fast")[1]
    assert ran.backend.max_concurrent == 2


@pytest.mark.parametrize("parallelism", [1, 3, 8])
def test_parallelism_bounds_a_wide_fan_out(run_pipeline: RunFn, parallelism: int) -> None:
    names = [f"w{i}" for i in range(8)]
    tasks = {"src": task("comp-step"), **{n: task("comp-step", after=("src",)) for n in names}}
    ran = run_pipeline(steps(tasks), lambda spec: Outcome(polls=3), parallelism=parallelism)
    assert ran.result.state == RunState.SUCCEEDED
    assert sorted(ran.submitted[1:]) == names
    assert ran.backend.max_concurrent == parallelism


# -- failures -------------------------------------------------------------------------------------


def test_a_failing_task_fails_the_run_and_skips_its_downstream(run_pipeline: RunFn) -> None:
    tasks = {
        **chain("a", "b", "c"),
        "other": task("comp-step"),
        "after-other": task("comp-step", after=("other",)),
    }
    ran = run_pipeline(steps(tasks), {"a": Outcome(exit_code=3, log="line 1\nTraceback: boom\n")})
    assert ran.result.state == RunState.FAILED
    assert not ran.result.succeeded
    assert "'a'" in ran.result.error
    assert "exited with code 3" in ran.result.error
    assert ran.state("a") == TaskState.FAILED
    assert ran.tasks["a"].exit_code == 3
    assert "Traceback: boom" in ran.tasks["a"].error  # the log tail is kept with the error
    assert ran.state("b") == ran.state("c") == TaskState.SKIPPED_UPSTREAM_FAILED
    assert "b" not in ran.submitted
    assert "c" not in ran.submitted
    assert ran.state("other") == ran.state("after-other") == TaskState.SUCCEEDED


def test_permanent_submit_error_fails_the_task_with_its_reason(run_pipeline: RunFn) -> None:
    ran = run_pipeline(steps(chain("a", "b")), {"a": Outcome(reject="image not found")})
    assert ran.result.state == RunState.FAILED
    record = ran.tasks["a"]
    assert record.state == TaskState.FAILED
    assert record.reason == "ImageNotFound"
    assert "image not found" in record.error
    assert "image not found" in ran.result.error
    assert ran.submitted == []
    assert ran.state("b") == TaskState.SKIPPED_UPSTREAM_FAILED


def test_missing_output_parameter_fails_the_task(run_pipeline: RunFn) -> None:
    pipeline = (
        Pipeline()
        .container("comp-make", outputs={"n": "NUMBER_INTEGER"})
        .container("comp-use", inputs={"n": "NUMBER_INTEGER"})
    )
    pipeline.root({"make": task("comp-make"), "use": task("comp-use", n=from_task("make", "n"))})
    ran = run_pipeline(pipeline)  # make exits 0 without writing n
    assert ran.result.state == RunState.FAILED
    assert ran.state("make") == TaskState.FAILED
    assert "did not write its output parameter 'n'" in ran.tasks["make"].error
    assert ran.tasks["make"].reason == "OutputError"
    assert ran.state("use") == TaskState.SKIPPED_UPSTREAM_FAILED


def test_output_parameter_of_the_wrong_type_fails_the_task(run_pipeline: RunFn) -> None:
    pipeline = (
        Pipeline().container("comp-make", outputs={"n": "NUMBER_INTEGER"}).root({"make": task("comp-make")})
    )
    ran = run_pipeline(pipeline, {"make": Outcome(parameters={"n": "many"})})
    assert ran.state("make") == TaskState.FAILED
    assert "expected an integer" in ran.tasks["make"].error


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "malformed"),
        ("[1, 2]", "not a JSON object"),
        # Found by hand: each crashed the engine and left the run RUNNING.
        ('{"artifacts": {"a": {"artifacts": [{"uri": 5, "metadata": [1, 2]}]}}}', "uri is not a string"),
        ('{"artifacts": {"a": {"artifacts": [{"metadata": [1, 2]}]}}}', "metadata is not a JSON object"),
        ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
        ('{"parameterValues": [1]}', "parameterValues is not a JSON object"),
        ('{"artifacts": {"a": 3}}', "artifacts.a is not a JSON object"),
        ('{"artifacts": {"a": {"artifacts": {"uri": "x"}}}}', "not a list of JSON objects"),
        ('{"artifacts": {"a": {"artifacts": [7]}}}', "not a list of JSON objects"),
        ('{"parameterValues": {"s": ' + "[" * 200 + "]" * 200 + "}}", "nested more than 100 levels"),
    ],
)
def test_malformed_executor_output_fails_the_task(run_pipeline: RunFn, content: str, problem: str) -> None:
    def write_bad_output(spec: TaskSpec) -> Outcome:
        out = Path(executor_input(spec)["outputs"]["outputFile"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(content)
        return Outcome()

    pipeline = (
        Pipeline()
        .container("comp-make", outputs={"s": "STRING", "a": "system.Dataset"})
        .root({"make": task("comp-make")})
    )
    ran = run_pipeline(pipeline, write_bad_output)
    assert ran.result.state == RunState.FAILED
    error = ran.tasks["make"].error
    assert "executor_output.json" in error
    assert problem in error
    assert "\n" not in error and len(error) < 300, error


def test_an_output_parameter_over_the_limit_fails_the_task(run_pipeline: RunFn) -> None:
    pipeline = Pipeline().container("comp-make", outputs={"s": "STRING"}).root({"make": task("comp-make")})
    over = run_pipeline(pipeline, {"make": Outcome(parameters={"s": "x" * 2000})}, max_parameter_bytes=1000)
    assert over.result.state == RunState.FAILED
    assert "output parameter 's' is 2002 bytes, over the limit of 1000" in over.tasks["make"].error
    within = run_pipeline(pipeline, {"make": Outcome(parameters={"s": "x" * 900})}, max_parameter_bytes=1000)
    assert within.result.state == RunState.SUCCEEDED


class BrokenBackend(FakeBackend):
    """Fails once in the middle of a run as a bug in the engine or a backend would."""

    def poll(self, handles: Sequence[str]) -> dict[str, TaskStatus]:
        raise RuntimeError("unexpected\nfailure")


class UnpreparedBackend(FakeBackend):
    def prepare(self, run: RunInfo) -> None:
        raise PermanentBackendError("the volume claim 'gone' does not exist")


def test_a_run_the_backend_cannot_prepare_is_recorded_failed_with_its_reason(run_pipeline: RunFn) -> None:
    ran = run_pipeline(steps(chain("a")), backend=UnpreparedBackend())
    record = ran.store.run(ran.result.run_id)
    assert (record.state, record.error) == (RunState.FAILED, "the volume claim 'gone' does not exist")


def test_an_unexpected_failure_records_the_run_failed_and_it_resumes(run_pipeline: RunFn) -> None:
    ran = run_pipeline(steps(chain("a", "b")), backend=BrokenBackend())
    record = ran.store.run(ran.result.run_id)
    assert record.state == RunState.FAILED  # never left RUNNING
    assert record.error == "the engine failed: RuntimeError: unexpected failure"
    assert ran.backend.tasks and all(t.cancelled for t in ran.backend.tasks.values())
    resumed = api.resume(ran.result.run_id, store=ran.store)
    assert resumed.state == RunState.SUCCEEDED, resumed.error


# -- data wiring ----------------------------------------------------------------------------------


def producer_consumer() -> Pipeline:
    return (
        Pipeline("wiring")
        .container("comp-produce", outputs={"n": "NUMBER_INTEGER", "data": "system.Dataset"})
        .container(
            "comp-consume",
            inputs={"n": "NUMBER_INTEGER", "data": "system.Dataset"},
            args=["--n", "{{$.inputs.parameters['n']}}", "--data", "{{$.inputs.artifacts['data'].path}}"],
        )
        .root(
            {
                "produce": task("comp-produce"),
                "consume": task(
                    "comp-consume", n=from_task("produce", "n"), data=artifact_from_task("produce", "data")
                ),
            }
        )
    )


def test_task_outputs_reach_the_consumer(run_pipeline: RunFn, tmp_path: Path) -> None:
    outcome = Outcome(parameters={"n": 5}, artifacts={"data": b"a,b\n1,2\n"})
    ran = run_pipeline(producer_consumer(), {"produce": outcome})
    assert ran.result.state == RunState.SUCCEEDED
    run_id = ran.result.run_id
    inputs = ran.inputs("consume")
    assert inputs["parameterValues"] == {"n": 5}
    [artifact] = inputs["artifacts"]["data"]["artifacts"]
    expected_path = str((tmp_path / "root").resolve() / run_id / "produce" / "data")
    assert artifact["uri"] == expected_path
    assert artifact["type"]["schemaTitle"] == "system.Dataset"
    assert Path(artifact["uri"]).read_bytes() == b"a,b\n1,2\n"
    assert ran.argv("consume") == ["echo", "--n", "5", "--data", expected_path]
    assert ran.tasks["produce"].outputs == {"n": 5}
    assert ran.result.tasks["produce"].artifacts["data"].path == Path(expected_path)


def test_artifacts_are_recorded_with_size_and_digest(run_pipeline: RunFn) -> None:
    ran = run_pipeline(
        producer_consumer(), {"produce": Outcome(parameters={"n": 1}, artifacts={"data": b"xyz"})}
    )
    [record] = ran.store.artifacts(ran.result.run_id)
    assert (record.task_path, record.name, record.type) == ("produce", "data", "system.Dataset")
    assert record.uri == f"{ran.result.run_id}/produce/data"  # relative to the root
    assert record.size == 3
    assert record.digest == "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282"


def test_pipeline_parameters_and_constants_reach_the_executor(run_pipeline: RunFn) -> None:
    pipeline = (
        Pipeline("consts")
        .container(
            "comp-use",
            inputs={
                "n": "NUMBER_INTEGER",
                "x": "NUMBER_DOUBLE",
                "job": "STRING",
                "msg": "STRING",
                "flag": "BOOLEAN",
            },
            args=["{{$.inputs.parameters['n']}}", "{{$.inputs.parameters['flag']}}"],
        )
        .root(
            {
                "use": task(
                    "comp-use",
                    n=const(2.0),
                    x=const(1),
                    job=const("job={{$.pipeline_job_name}}"),
                    msg=from_input("msg"),
                    flag=from_input("flag"),
                )
            },
            inputs={"msg": "STRING", "flag": "BOOLEAN"},
            defaults={"flag": True},
        )
    )
    ran = run_pipeline(pipeline, params={"msg": "hi"})
    values = ran.inputs("use")["parameterValues"]
    assert values["n"] == 2
    assert type(values["n"]) is int
    assert values["x"] == 1.0
    assert type(values["x"]) is float
    assert values["job"] == f"job=consts-{ran.result.run_id}"
    assert values["msg"] == "hi"
    assert values["flag"] is True
    assert ran.argv("use") == ["echo", "2", "true"]


def test_pipeline_and_task_placeholders_in_constants(run_pipeline: RunFn) -> None:
    """kfp passes dsl.PIPELINE_JOB_ID_PLACEHOLDER, dsl.PIPELINE_TASK_NAME_PLACEHOLDER... as constants."""
    pipeline = Pipeline("ph").container("comp-use", inputs={"job_id": "STRING", "task_name": "STRING"})
    pipeline.root(
        {
            "use": task(
                "comp-use",
                job_id=const("{{$.pipeline_job_uuid}}"),
                task_name=const("{{$.pipeline_task_name}}"),
            )
        }
    )
    ran = run_pipeline(pipeline)
    assert ran.inputs("use")["parameterValues"] == {"job_id": ran.result.run_id, "task_name": "use"}


def test_component_default_is_typed_like_a_constant(run_pipeline: RunFn) -> None:
    """kfp compiles `n: int = 3` as `defaultValue: 3.0`; the executor must see the int 3, as for constants."""
    pipeline = Pipeline().container(
        "comp-use", inputs={"n": "NUMBER_INTEGER"}, defaults={"n": 3.0}, args=["{{$.inputs.parameters['n']}}"]
    )
    pipeline.root({"use": task("comp-use")})
    ran = run_pipeline(pipeline)
    assert ran.inputs("use")["parameterValues"] == {"n": 3}
    assert type(ran.inputs("use")["parameterValues"]["n"]) is int
    assert ran.argv("use") == ["echo", "3"]


def test_constant_of_the_wrong_type_fails_the_task(run_pipeline: RunFn) -> None:
    # As on Kubeflow: its driver takes any number for an integer input, but never parses a string as one.
    pipeline = Pipeline().container("comp-use", inputs={"n": "NUMBER_INTEGER"})
    pipeline.root({"use": task("comp-use", n=const("2"))})
    ran = run_pipeline(pipeline)
    assert ran.state("use") == TaskState.FAILED
    assert "use" not in ran.submitted
    assert "expected an integer" in ran.tasks["use"].error


def test_unknown_placeholder_in_args_fails_the_task(run_pipeline: RunFn) -> None:
    pipeline = steps(chain("a", "b"))
    pipeline.doc["deploymentSpec"]["executors"]["exec-comp-step"]["container"]["args"] = ["{{$.nope}}"]
    ran = run_pipeline(pipeline)
    assert ran.result.state == RunState.FAILED
    assert ran.submitted == []
    assert "unknown placeholder {{$.nope}}" in ran.tasks["a"].error
    assert ran.state("b") == TaskState.SKIPPED_UPSTREAM_FAILED


def write_outputs(
    files: dict[str, str] | None = None, executor_output: dict[str, Any] | None = None
) -> Outcomes:
    """A script for tasks that write their outputs themselves, as container components do."""

    def write(path: str, text: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)

    def script(spec: TaskSpec) -> Outcome:
        outputs = executor_input(spec)["outputs"]
        for name, text in (files or {}).items():
            write(outputs["parameters"][name]["outputFile"], text)
        if executor_output is not None:
            write(outputs["outputFile"], json.dumps(executor_output))
        return Outcome()

    return script


def test_output_parameters_written_to_their_files(run_pipeline: RunFn) -> None:
    pipeline = Pipeline().container("comp-make", outputs={"n": "NUMBER_INTEGER", "xs": "LIST", "s": "STRING"})
    pipeline.root({"make": task("comp-make")})
    ran = run_pipeline(pipeline, write_outputs({"n": "7\n", "xs": "[1, 2]", "s": "hello"}))
    assert ran.result.state == RunState.SUCCEEDED
    assert ran.tasks["make"].outputs == {"n": 7, "xs": [1, 2], "s": "hello"}


def test_executor_output_wins_over_parameter_files(run_pipeline: RunFn) -> None:
    pipeline = Pipeline().container("comp-make", outputs={"s": "STRING"}).root({"make": task("comp-make")})
    ran = run_pipeline(pipeline, write_outputs({"s": "from file"}, {"parameterValues": {"s": "reported"}}))
    assert ran.tasks["make"].outputs == {"s": "reported"}


def test_artifact_metadata_reaches_the_consumer_and_the_store(run_pipeline: RunFn) -> None:
    reported = {
        "parameterValues": {"n": 1},
        "artifacts": {"data": {"artifacts": [{"metadata": {"rows": 3}}]}},
    }
    ran = run_pipeline(producer_consumer(), write_outputs(executor_output=reported))
    assert ran.result.state == RunState.SUCCEEDED
    assert ran.inputs("consume")["artifacts"]["data"]["artifacts"][0]["metadata"] == {"rows": 3}
    [record] = ran.store.artifacts(ran.result.run_id)
    assert record.metadata == {"rows": 3}


def test_temporary_submit_error_is_retried(run_pipeline: RunFn) -> None:
    class Busy(FakeBackend):
        refusals = 2

        def submit(self, task: TaskSpec) -> str:
            if self.refusals:
                self.refusals -= 1
                raise TemporaryBackendError("daemon busy", delay=0)
            return super().submit(task)

    ran = run_pipeline(steps(chain("a", "b")), backend=Busy())
    assert ran.result.state == RunState.SUCCEEDED
    assert ran.submitted == ["a", "b"]
    assert ran.tasks["a"].attempts == 1
    assert ran.spec("a").attempt == 1


def test_executor_input_names_each_output_location(run_pipeline: RunFn, tmp_path: Path) -> None:
    ran = run_pipeline(producer_consumer(), {"produce": Outcome(parameters={"n": 1})})
    outputs = executor_input(ran.spec("produce"))["outputs"]
    task_dir = f"{(tmp_path / 'root').resolve()}/{ran.result.run_id}/produce"
    assert outputs["parameters"] == {"n": {"outputFile": f"{task_dir}/n"}}
    assert outputs["artifacts"]["data"]["artifacts"][0]["uri"] == f"{task_dir}/data"
    assert outputs["outputFile"] == f"{task_dir}/executor_output.json"


# -- nested DAGs and pipeline outputs -------------------------------------------------------------


def nested() -> Pipeline:
    """root: inner (a DAG: make -> check) -> report; inner's outputs are the pipeline's outputs."""
    return (
        Pipeline("nested")
        .container(
            "comp-make", inputs={"greeting": "STRING"}, outputs={"msg": "STRING", "model": "system.Model"}
        )
        .container("comp-check", inputs={"model": "system.Model"})
        .container("comp-report", inputs={"msg": "STRING", "model": "system.Model"})
        .dag(
            "comp-inner",
            {
                "make": task("comp-make", greeting=from_input("greeting")),
                "check": task("comp-check", model=artifact_from_task("make", "model")),
            },
            inputs={"greeting": "STRING"},
            outputs={"out-msg": "STRING", "out-model": "system.Model"},
            dag_outputs={"out-msg": select("make", "msg"), "out-model": select_artifact("make", "model")},
        )
        .root(
            {
                "inner": task("comp-inner", greeting=from_input("greeting")),
                "report": task(
                    "comp-report",
                    msg=from_task("inner", "out-msg"),
                    model=artifact_from_task("inner", "out-model"),
                ),
            },
            inputs={"greeting": "STRING"},
            defaults={"greeting": "hello"},
            outputs={"result": "STRING", "final": "system.Model"},
            dag_outputs={
                "result": select("inner", "out-msg"),
                "final": select_artifact("inner", "out-model"),
            },
        )
    )


def test_nested_dag_outputs_and_pipeline_outputs(run_pipeline: RunFn, tmp_path: Path) -> None:
    ran = run_pipeline(
        nested(), {"inner/make": Outcome(parameters={"msg": "made"}, artifacts={"model": b"w"})}
    )
    assert ran.result.state == RunState.SUCCEEDED
    assert ran.submitted == ["inner/make", "inner/check", "report"]
    assert ran.inputs("inner/make")["parameterValues"] == {"greeting": "hello"}
    model_path = (tmp_path / "root").resolve() / ran.result.run_id / "inner" / "make" / "model"
    assert ran.inputs("inner/check")["artifacts"]["model"]["artifacts"][0]["uri"] == str(model_path)
    report = ran.inputs("report")
    assert report["parameterValues"] == {"msg": "made"}
    assert report["artifacts"]["model"]["artifacts"][0]["uri"] == str(model_path)
    assert ran.result.outputs == {"result": "made"}
    assert ran.result.artifacts == {"final": model_path}
    assert ran.result.artifacts["final"].read_bytes() == b"w"
    inner = ran.tasks["inner"]
    assert (inner.kind, inner.state, inner.outputs) == ("dag", TaskState.SUCCEEDED, {"out-msg": "made"})
    assert ran.tasks["inner/make"].parent == "inner"


def test_failure_inside_a_nested_dag(run_pipeline: RunFn) -> None:
    ran = run_pipeline(nested(), {"inner/make": Outcome(exit_code=1)})
    assert ran.result.state == RunState.FAILED
    assert "'inner/make'" in ran.result.error
    assert ran.state("inner/make") == TaskState.FAILED
    assert ran.state("inner/check") == TaskState.SKIPPED_UPSTREAM_FAILED
    assert ran.state("inner") == TaskState.FAILED
    assert ran.state("report") == TaskState.SKIPPED_UPSTREAM_FAILED
    assert ran.submitted == ["inner/make"]
    assert ran.result.outputs == {}


def test_dag_input_artifact_reaches_inner_tasks(run_pipeline: RunFn) -> None:
    pipeline = (
        Pipeline()
        .container("comp-make", outputs={"data": "system.Dataset"})
        .container("comp-use", inputs={"data": "system.Dataset"})
        .dag(
            "comp-inner",
            {"use": task("comp-use", data=artifact_from_input("data"))},
            inputs={"data": "system.Dataset"},
        )
        .root(
            {"make": task("comp-make"), "inner": task("comp-inner", data=artifact_from_task("make", "data"))}
        )
    )
    ran = run_pipeline(pipeline, {"make": Outcome(artifacts={"data": b"d"})})
    assert ran.result.state == RunState.SUCCEEDED
    uri = ran.inputs("inner/use")["artifacts"]["data"]["artifacts"][0]["uri"]
    assert uri.endswith(f"/{ran.result.run_id}/make/data")


# -- the store ------------------------------------------------------------------------------------


def test_task_states_and_attempts_are_recorded(run_pipeline: RunFn) -> None:
    tasks = {**chain("a", "b"), "c": task("comp-step")}
    ran = run_pipeline(steps(tasks), {"b": Outcome(exit_code=2)})
    records = ran.store.tasks(ran.result.run_id)
    assert [t.path for t in records] == ["a", "b", "c"]  # the order the DAG declares them
    by_path = {t.path: t for t in records}
    assert {p: (t.state, t.attempts) for p, t in by_path.items()} == {
        "a": (TaskState.SUCCEEDED, 1),
        "b": (TaskState.FAILED, 1),
        "c": (TaskState.SUCCEEDED, 1),
    }
    assert by_path["b"].exit_code == 2
    assert all(t.kind == "container" and t.component == "comp-step" for t in records)
    assert all(t.started_at is not None and t.finished_at is not None for t in records)
    run = ran.store.run(ran.result.run_id)
    assert run.state == RunState.FAILED
    assert run.backend == "fake"
    assert run.finished_at is not None


def test_skipped_tasks_are_recorded_without_attempts(run_pipeline: RunFn) -> None:
    ran = run_pipeline(steps(chain("a", "b")), {"a": Outcome(exit_code=1)})
    skipped = ran.tasks["b"]
    assert skipped.state == TaskState.SKIPPED_UPSTREAM_FAILED
    assert skipped.attempts == 0


def test_run_record_keeps_params_and_spec(run_pipeline: RunFn) -> None:
    pipeline = steps({"s": task("comp-step")}, inputs={"n": "NUMBER_INTEGER"})
    ran = run_pipeline(pipeline, params={"n": "4"}, params_as_text=True)
    run = ran.store.run(ran.result.run_id)
    assert run.params == {"n": 4}
    assert run.spec_text == pipeline.yaml()
    assert ran.backend.prepared == ran.backend.cleaned == [run.run_id]
    assert runner.result(ran.store, run.run_id).state == RunState.SUCCEEDED


def test_on_change_sees_every_transition(run_pipeline: RunFn) -> None:
    seen: list[tuple[str, TaskState]] = []
    run_pipeline(steps(chain("a", "b")), on_change=lambda record: seen.append((record.path, record.state)))
    assert [s for p, s in seen if p == "a"] == [TaskState.PENDING, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert seen.index(("a", TaskState.SUCCEEDED)) < seen.index(("b", TaskState.RUNNING))


def test_an_evicted_task_runs_again_without_a_retry_policy_but_not_forever(run_pipeline: RunFn) -> None:
    def evicted_until(last: int) -> Callable[[TaskSpec], Outcome]:
        return lambda spec: Outcome(exit_code=1, reason="Evicted") if spec.attempt < last else Outcome()

    recovered = run_pipeline(steps(chain("a")), evicted_until(3))
    assert recovered.tasks["a"].state == TaskState.SUCCEEDED and recovered.tasks["a"].attempts == 3
    given_up = run_pipeline(steps(chain("a")), evicted_until(4))
    assert given_up.tasks["a"].state == TaskState.FAILED and given_up.tasks["a"].attempts == 3
    crashed = run_pipeline(steps(chain("a")), lambda spec: Outcome(exit_code=1))
    assert crashed.tasks["a"].attempts == 1


CORPUS_PIPELINES = Path(__file__).resolve().parents[3] / "shared" / "kfp-corpus" / "pipelines"


@pytest.mark.skipif(not CORPUS_PIPELINES.is_dir(), reason="the shared kfp corpus is not next to the checkout")
def test_a_secret_named_by_a_pipeline_parameter_reaches_the_backend_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    backend = FakeBackend(lambda spec: Outcome(parameters={"Output": "done"}))
    source = CORPUS_PIPELINES / "parallel_and_nested__parallel_for_secret.yaml"
    with SQLiteStore(tmp_path / "db") as store:
        result = runner.run(source, backend=backend, params={"my_secret_name": "team-db"}, store=store)
    assert result.state == RunState.SUCCEEDED
    secrets = [spec.kubernetes["secretAsEnv"][0] for spec in backend.submitted]
    assert secrets and all(s["secretName"] == "team-db" for s in secrets)
    assert all(s["keyToEnv"] == [{"envVar": "MY_SECRET_KEY", "secretKey": "username"}] for s in secrets)


def test_every_transition_is_in_the_store_before_the_backend_is_asked_to_act(
    run_pipeline: RunFn, tmp_path: Path
) -> None:
    stored: dict[tuple[str, int], dict[str, tuple[TaskState, int, str]]] = {}

    def outcome(spec: TaskSpec) -> Outcome:
        # What the store would hold were the engine killed at the moment of the submit: its database as
        # committed, opened by another store.
        crashed = tmp_path / f"crashed-{spec.task_path}-{spec.attempt}"
        crashed.mkdir()
        with (
            contextlib.closing(sqlite3.connect(tmp_path / "db")) as live,
            contextlib.closing(sqlite3.connect(crashed / "db")) as copy,
        ):
            live.backup(copy)
        with SQLiteStore(crashed / "db") as store:
            tasks = store.tasks(store.runs(1)[0].run_id)
        stored[spec.task_path, spec.attempt] = {
            t.path: (t.state, t.attempts, t.component_digest) for t in tasks
        }
        evicted = spec.task_path == "b" and spec.attempt == 1
        return Outcome(exit_code=1, reason="Evicted") if evicted else Outcome()

    ran = run_pipeline(steps(chain("a", "b")), outcome)
    assert ran.result.state == RunState.SUCCEEDED
    digest = ran.tasks["a"].component_digest
    assert digest.startswith("sha256:")
    assert stored["a", 1] == {"a": (TaskState.RUNNING, 1, digest), "b": (TaskState.PENDING, 0, digest)}
    assert stored["b", 1] == {"a": (TaskState.SUCCEEDED, 1, digest), "b": (TaskState.RUNNING, 1, digest)}
    assert stored["b", 2]["b"] == (TaskState.RUNNING, 2, digest)
