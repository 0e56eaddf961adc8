"""`flow rerun` on the process and Docker backends: a task of a finished run runs again with its inputs."""

# mypy: disable-error-code="no-untyped-def,no-any-return"

from __future__ import annotations

import json
from pathlib import Path

import runner
from backends.local import DockerBackend
from runner import Dataset, Input, Output, compile_to_text, component, pipeline
from runner.store import RunState, TaskState
from runner.testing.conformance import IMPORT_SOURCE, KFP_ONE_IMPORT
from tests.conftest import TEST_IMAGE_MAP, make_backend, require_docker
from tests.integration import sdk_pipelines as sp
from tests.integration.test_cli import flow


@component
def produce(seed: int, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write(f"seed={seed}")
    data.metadata["rows"] = seed


@component
def consume(data: Input[Dataset], factor: int) -> str:
    if factor < 0:
        raise ValueError(f"bad factor {factor}")
    with open(data.path) as handle:
        return f"{handle.read()}|rows={data.metadata['rows']}|factor={factor}"


@pipeline(name="produce-consume")
def produce_consume(seed: int, factor: int) -> str:
    return consume(data=produce(seed=seed).outputs["data"], factor=factor).output


def run_pipeline(backend_name: str, root: Path, factor: int) -> runner.RunResult:
    text = compile_to_text(produce_consume)
    return runner.run(
        text, backend=make_backend(backend_name), root=root, params={"seed": 4, "factor": factor}
    )


def test_a_succeeded_task_gives_the_same_outputs(backend_name: str, tmp_path: Path) -> None:
    original = run_pipeline(backend_name, tmp_path / "root", factor=3)
    assert original.succeeded, original.error

    again = runner.rerun(original.run_id, "consume", backend=make_backend(backend_name))

    assert again.succeeded, again.error
    assert list(again.tasks) == ["consume"]
    assert again.outputs == original.tasks["consume"].outputs == {"Output": "seed=4|rows=4|factor=3"}


def test_a_failed_task_fails_again_with_the_same_inputs(backend_name: str, tmp_path: Path) -> None:
    original = run_pipeline(backend_name, tmp_path / "root", factor=-1)
    assert original.state == RunState.FAILED
    assert "bad factor -1" in original.tasks["consume"].log()

    again = runner.rerun(original.run_id, "consume", backend=make_backend(backend_name))

    assert again.state == RunState.FAILED
    task = again.tasks["consume"]
    assert "ValueError: bad factor -1" in task.log()
    assert "bad factor -1" in task.error


def test_an_upstream_artifact_is_copied_into_another_root(backend_name: str, tmp_path: Path) -> None:
    original = run_pipeline(backend_name, tmp_path / "root", factor=2)
    assert original.succeeded, original.error
    other = tmp_path / "other"

    again = runner.rerun(original.run_id, "consume", backend=make_backend(backend_name), root=other)

    assert again.succeeded, again.error
    assert (other / original.run_id / "produce" / "data").read_text() == "seed=4"
    assert again.outputs == {"Output": "seed=4|rows=4|factor=2"}  # the metadata came along
    assert (other / again.run_id / "consume").is_dir()


def test_a_task_reading_an_imported_file_reads_it_in_place_again(backend_name: str, tmp_path: Path) -> None:
    # The imported file stays outside any root: a rerun, into another root too, reads it where it is.
    data = tmp_path / "outside.txt"
    data.write_text("outside")
    params = {"uri": str(data), "source": IMPORT_SOURCE}
    backend, root = make_backend(backend_name), tmp_path / "root"
    original = runner.run(KFP_ONE_IMPORT, backend=backend, root=root, params=params)
    assert original.succeeded, original.error
    other = tmp_path / "other"

    again = runner.rerun(original.run_id, "read-artifact", backend=make_backend(backend_name), root=other)

    assert again.succeeded, again.error
    assert again.tasks["read-artifact"].outputs == original.tasks["read-artifact"].outputs
    assert not list(other.rglob("outside.txt"))


def test_the_command_reruns_shows_and_exits_as_flow_run(tmp_path: Path) -> None:
    original = run_pipeline("process", tmp_path / "root", factor=-1)

    done = flow("rerun", original.run_id, "consume")

    assert done.returncode == 1, done.stderr
    assert f"rerun of run {original.run_id} task consume on process" in done.stdout
    assert "bad factor -1" in done.stderr
    shown = json.loads(flow("show", "latest", "-o", "json").stdout)
    assert shown["rerun_of"] == {"run": original.run_id, "task": "consume"}
    assert [t["path"] for t in shown["tasks"]] == ["consume"]
    assert [t["inputs"]["factor"] for t in shown["tasks"]] == [-1]
    assert f"rerun of run {original.run_id} task consume" in flow("show", "latest").stdout
    listed = flow("runs", env={"COLUMNS": "200"}).stdout
    assert f"produce-consume (rerun of {original.run_id} consume)" in listed

    for args, message in [
        (("rerun", "ffffffff", "consume"), "no run 'ffffffff'"),
        (("rerun", original.run_id, "nope"), "has no task 'nope'"),
        (("rerun", original.run_id, "consume", "--local", "--cluster"), "choose one of"),
    ]:
        refused = flow(*args)
        assert refused.returncode == 2
        assert refused.stderr.strip().count("\n") == 0 and message in refused.stderr


def test_every_task_of_a_control_flow_run_gives_the_same_outputs_again(
    backend_name: str, tmp_path: Path
) -> None:
    # Loops, conditions, a nested pipeline, an importer's artifact, a collected list of artifacts and an
    # exit handler's final status: each container task that ran, re-run alone, gives what it gave.
    data = tmp_path / "root" / "imported.txt"
    data.parent.mkdir(parents=True)
    data.write_text("from outside")
    text = compile_to_text(sp.control_flow)
    params = {"x": 2, "uri": str(data)}
    original = runner.run(text, backend=make_backend(backend_name), root=tmp_path / "root", params=params)
    assert original.succeeded, original.error
    ran = [t for t in original.tasks.values() if t.kind == "container" and t.state == TaskState.SUCCEEDED]
    assert len(ran) > 10

    for task in ran:
        again = runner.rerun(original.run_id, task.path, backend=make_backend(backend_name))
        assert again.succeeded, f"{task.path}: {again.error}"
        assert again.tasks[task.name].outputs == task.outputs, task.path


def test_an_input_copied_into_another_root_is_readable_by_a_task_running_as_nobody(tmp_path: Path) -> None:
    require_docker()
    original = run_pipeline("process", tmp_path / "root", factor=2)
    assert original.succeeded, original.error
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never", run_as_non_root=True)
    try:
        again = runner.rerun(original.run_id, "consume", backend=backend, root=tmp_path / "other")
    finally:
        backend.close()

    assert again.succeeded, again.tasks["consume"].log()
    assert again.outputs == {"Output": "seed=4|rows=4|factor=2"}


def test_a_task_of_a_run_with_an_s3_root_reruns_in_the_bucket_or_on_a_local_root(
    backend_name: str, s3_root: str, tmp_path: Path
) -> None:
    text = compile_to_text(produce_consume)
    params = {"seed": 6, "factor": 2}
    original = runner.run(text, backend=make_backend(backend_name), root=s3_root, params=params)
    assert original.succeeded, original.error

    in_place = runner.rerun(original.run_id, "consume", backend=make_backend(backend_name))
    local = runner.rerun(
        original.run_id, "consume", backend=make_backend(backend_name), root=tmp_path / "here"
    )

    assert in_place.root == s3_root and in_place.succeeded, in_place.error
    assert local.succeeded, local.error
    assert (tmp_path / "here" / original.run_id / "produce" / "data").read_text() == "seed=6"
    assert in_place.outputs == local.outputs == {"Output": "seed=6|rows=6|factor=2"}


def test_the_cli_reruns_a_task_into_an_s3_root_written_as_typed(s3_root: str, tmp_path: Path) -> None:
    original = run_pipeline("process", tmp_path / "root", factor=3)
    assert original.succeeded, original.error

    done = flow("rerun", original.run_id, "consume", "--backend", "process", "--root", s3_root)

    assert done.returncode == 0, done.stdout + done.stderr
    shown = json.loads(flow("show", "latest", "-o", "json").stdout)
    assert shown["root"] == s3_root, "the root must not lose the second slash of s3://"
    assert shown["state"] == "SUCCEEDED"
