"""The iris example (examples/iris/pipeline.yaml) end to end, and the same results on Docker.

The process backend runs each container component with the host Python, so scikit-learn must be installed
(`pip install -e '.[examples]'`); without it these tests fail rather than skip: the dev extras include it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import runner
from runner.api import open_store
from runner.errors import ParameterError
from runner.store import RunState, TaskState
from tests.conftest import make_backend

PIPELINE = Path(__file__).resolve().parents[2] / "examples" / "iris" / "pipeline.yaml"
TASKS = {"prepare-data", "train", "evaluate"}
IRIS_ROWS = 150


def run_iris(home: Path, backend: str = "process", **params: Any) -> runner.RunResult:
    result = runner.run(PIPELINE, backend=make_backend(backend), params=params, root=home / "root")
    if result.state != RunState.SUCCEEDED:
        tasks = result.tasks.values()
        logs = "\n".join(f"--- {t.path} ({t.state.value}): {t.error}\n{t.log()}" for t in tasks)
        pytest.fail(f"run {result.run_id} ended {result.state.value}: {result.error}\n{logs}")
    return result


def csv_rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[1:]  # without the header


def recorded_digest(run_id: str, task_path: str, name: str) -> str:
    store = open_store()
    try:
        records = [a for a in store.artifacts(run_id) if (a.task_path, a.name) == (task_path, name)]
    finally:
        store.close()
    assert len(records) == 1, f"{task_path}/{name} recorded {len(records)} times"
    return records[0].digest


def test_default_run_trains_an_accurate_model(flow_home: Path) -> None:
    result = run_iris(flow_home)

    assert result.state == RunState.SUCCEEDED
    states = {path: task.state for path, task in result.tasks.items()}
    assert states == dict.fromkeys(TASKS, TaskState.SUCCEEDED)

    accuracy = result.outputs["accuracy"]
    assert isinstance(accuracy, float)
    assert 0.8 < accuracy <= 1.0

    metrics_path = result.artifacts["metrics"]
    assert isinstance(metrics_path, Path)
    assert metrics_path == result.tasks["evaluate"].artifacts["metrics"].path
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert metrics["accuracy"] == pytest.approx(metrics["correct"] / metrics["total"])
    assert 0.0 < metrics["f1_macro"] <= 1.0

    # test_size 0.3 of 150 rows, and the two splits together are the whole data set
    train_rows = csv_rows(result.tasks["prepare-data"].artifacts["train"].path)
    test_rows = csv_rows(result.tasks["prepare-data"].artifacts["test"].path)
    assert len(test_rows) == metrics["total"] == 45
    assert len(train_rows) + len(test_rows) == IRIS_ROWS

    model_path = result.tasks["train"].artifacts["model"].path
    assert model_path.stat().st_size > 0
    with model_path.open("rb") as handle:
        model = pickle.load(handle)
    assert type(model).__name__ == "LogisticRegression"
    assert model.max_iter == 200


def test_seed_changes_the_split_and_model_type_the_model(flow_home: Path) -> None:
    default = run_iris(flow_home)
    other = run_iris(flow_home, model_type="tree", seed=7)  # prepare-data sees only the seed change

    assert other.run_id != default.run_id
    assert 0.8 < other.outputs["accuracy"] <= 1.0

    train_default = default.tasks["prepare-data"].artifacts["train"].path
    train_other = other.tasks["prepare-data"].artifacts["train"].path
    digest_default = recorded_digest(default.run_id, "prepare-data", "train")
    digest_other = recorded_digest(other.run_id, "prepare-data", "train")
    assert digest_default == hashlib.sha256(train_default.read_bytes()).hexdigest()
    assert digest_other == hashlib.sha256(train_other.read_bytes()).hexdigest()
    assert digest_default != digest_other

    assert len(csv_rows(train_other)) == len(csv_rows(train_default))
    assert sorted(csv_rows(train_other)) != sorted(csv_rows(train_default))  # other rows, not just reordered
    with other.tasks["train"].artifacts["model"].path.open("rb") as handle:
        model = pickle.load(handle)
    assert type(model).__name__ == "DecisionTreeClassifier"
    assert model.random_state == 7


def test_wrong_typed_parameter_is_refused_before_any_run(flow_home: Path) -> None:
    root = flow_home / "root"
    with pytest.raises(ParameterError, match="seed"):
        runner.run(PIPELINE, backend="process", params={"seed": "abc"}, params_as_text=True, root=root)

    store = open_store()
    try:
        assert store.runs() == []
    finally:
        store.close()
    assert not root.exists()


def test_unknown_model_type_fails_the_train_task(flow_home: Path) -> None:
    result = runner.run(PIPELINE, backend="process", params={"model_type": "forest"}, root=flow_home / "root")

    assert result.state == RunState.FAILED
    assert result.tasks["prepare-data"].state == TaskState.SUCCEEDED
    assert result.tasks["train"].state == TaskState.FAILED
    assert "invalid choice: 'forest'" in result.tasks["train"].log()
    assert result.tasks["evaluate"].state == TaskState.SKIPPED_UPSTREAM_FAILED
    assert "accuracy" not in result.outputs


def test_docker_gives_the_same_split_and_accuracy_as_processes(flow_home: Path) -> None:
    on_processes = run_iris(flow_home, "process", seed=3)
    in_containers = run_iris(flow_home, "docker", seed=3)
    assert in_containers.tasks["train"].state == TaskState.SUCCEEDED
    for name in ("train", "test"):
        local = on_processes.tasks["prepare-data"].artifacts[name]
        docker = in_containers.tasks["prepare-data"].artifacts[name]
        assert (docker.size, docker.digest) == (local.size, local.digest), f"{name} split differs"
    assert in_containers.outputs["accuracy"] == pytest.approx(on_processes.outputs["accuracy"])
