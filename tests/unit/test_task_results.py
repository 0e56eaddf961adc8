"""A run's tasks as the Python API gives them: by path, and by the Python name of the task's function."""

import pytest

from runner import api
from runner.store import TaskState


def results(*paths: str) -> api.TaskResults:
    return api.TaskResults(
        {
            p: api.TaskResult(p, p, "container", TaskState.SUCCEEDED, 1, {}, {}, "", "", None, "")
            for p in paths
        }
    )


def test_a_task_is_found_by_its_path_and_by_its_function_s_python_name() -> None:
    tasks = results("prepare-data", "for-loop-1/0/train-model")
    assert tasks["prepare-data"].path == "prepare-data"
    assert tasks["prepare_data"].path == "prepare-data"
    assert tasks["for-loop-1/0/train_model"].path == "for-loop-1/0/train-model"
    assert list(tasks) == ["prepare-data", "for-loop-1/0/train-model"]  # the keys stay the paths


def test_a_task_that_is_not_there_is_a_key_error_with_the_nearest_name() -> None:
    tasks = results("prepare-data", "train")
    with pytest.raises(KeyError, match=r"no task 'prepare_dat' in the run; did you mean 'prepare-data'\?"):
        tasks["prepare_dat"]
    with pytest.raises(KeyError, match=r"no task 'evaluate' in the run"):
        tasks["evaluate"]
    assert "prepare_data" not in tasks and tasks.get("prepare_data") is None  # only [] looks further
