"""What `flow show` and the end of `flow run` say: inputs under the names the user wrote, and the folders
that really hold a run's outputs when tasks came from the cache."""

from pathlib import Path

import pytest

from runner import api
from runner.cli.outputplaces import outputs_line
from runner.inputnames import channel_name, shown_inputs
from runner.store import RunState, TaskState


@pytest.mark.parametrize(
    ("compiled", "written"),
    [
        ("pipelinechannel--big", "big"),
        ("pipelinechannel--train-accuracy", "train.accuracy"),
        ("pipelinechannel--prepare-data-train_set", "prepare-data.train_set"),
        ("pipelinechannel--loop-item-param-1", "item"),
        ("pipelinechannel--loop-item-param-1-subvar-a", "item.a"),
        ("pipelinechannel--nums-Output-loop-item", "item"),
        ("pipelinechannel--xs-loop-item-subvar-name", "item.name"),
        ("pipelinechannel--condition-branches-1-oneof-1", "condition-branches-1-oneof-1"),
        ("model_type", "model_type"),
    ],
)
def test_a_channel_is_named_as_the_user_wrote_it(compiled: str, written: str) -> None:
    assert channel_name(compiled) == written


def test_own_inputs_come_first_and_a_name_taken_keeps_the_compilers() -> None:
    inputs = {
        "pipelinechannel--word": "hi",
        "pipelinechannel--nums-Output-loop-item": 1,
        "pipelinechannel--loop-item-param-3": 7,
        "s": "hi 1",
        "word": "own",
    }
    assert list(shown_inputs(inputs).items()) == [
        ("s", "hi 1"),
        ("word", "own"),
        ("pipelinechannel--word", "hi"),
        ("item", 1),
        ("pipelinechannel--loop-item-param-3", 7),
    ]


def task(path: str, state: TaskState, attempts: int, **artifact_uris: str) -> api.TaskResult:
    artifacts = {
        name: api.ArtifactResult(Path("/r") / uri, uri, "system.Dataset", {}, 1, "")
        for name, uri in artifact_uris.items()
    }
    return api.TaskResult(path, path, "container", state, attempts, {}, artifacts, "", "", None, "")


def result(root: str, *tasks: api.TaskResult) -> api.RunResult:
    return api.RunResult(
        "new1", RunState.SUCCEEDED, "p", root, {}, {}, api.TaskResults({t.path: t for t in tasks})
    )


def test_a_run_that_ran_its_tasks_has_its_outputs_under_its_own_folder() -> None:
    ran = task("train", TaskState.SUCCEEDED, 1, model="new1/train/model")
    assert outputs_line(result("/r", ran)) == "outputs are under /r/new1"


def test_cached_outputs_are_where_the_run_that_made_them_put_them() -> None:
    ran = task("train", TaskState.SUCCEEDED, 2, model="new1/train/model")
    cached = [task(f"loop/{i}/prep", TaskState.CACHED, 0, data=f"old1/loop/{i}/prep/data") for i in range(5)]
    other = task("split", TaskState.CACHED, 0, a="old2/split/a", b="old2/split/b")
    imported = task("importer", TaskState.SUCCEEDED, 0, artifact="s3://bucket/data.csv")
    assert outputs_line(result("/r", ran, *cached, other, imported)) == (
        "outputs are under /r/new1, /r/old1 (cached: loop/0/prep, loop/1/prep, loop/2/prep and 2 more), "
        "/r/old2 (cached: split)"
    )
    assert outputs_line(result("/r", other)) == "outputs are under /r/old2 (cached: split)"
    assert outputs_line(result("s3://b/p", other)) == (
        "outputs are in s3://b/p under old2/ (cached: split) "
        "(flow artifacts old2 --download DIR copies a run's files here)"
    )


def test_a_run_of_cached_tasks_without_artifacts_wrote_no_files() -> None:
    cached = task("count", TaskState.CACHED, 0)
    assert (
        outputs_line(result("/r", cached))
        == "this run wrote no files: its tasks' outputs came from the cache"
    )
    skipped = task("maybe", TaskState.SKIPPED_CONDITION, 0)
    assert outputs_line(result("/r", skipped)) == "this run wrote no files"
