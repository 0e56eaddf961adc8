"""The public KFP corpus: pipelines compiled by the real kfp SDK give the outcome and outputs expected.json
records for the reference runner (kfp.local), on every local backend."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from runner import run
from runner.api import RunResult
from runner.artifacts import digest
from runner.store import TaskState
from tests.conftest import TEST_PYTHON_IMAGE, make_backend

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kfp-corpus"
EXPECTED: dict[str, dict[str, Any]] = (
    json.loads((CORPUS / "expected.json").read_text()) if CORPUS.is_dir() else {}
)

SUPPORTED = sorted(EXPECTED)


def corpus_images() -> dict[str, str]:
    """Every image the corpus names, mapped to the local test image (the reference run did the same)."""
    return {image: TEST_PYTHON_IMAGE for entry in EXPECTED.values() for image in entry.get("images", [])}


def params_for(entry: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The reference run's parameters; `{tmpdir}` is a fresh empty folder for the run."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    return {
        key: value.replace("{tmpdir}", str(tmpdir)) if isinstance(value, str) else value
        for key, value in entry["params"].items()
    }


def same_value(actual: Any, expected: Any) -> bool:
    """Equal, comparing numbers numerically (kfp.local turns ints inside lists and structs into floats)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(actual, expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(
            same_value(a, e) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(same_value(actual[k], expected[k]) for k in expected)
    return bool(actual == expected)


def leaf_states(result: RunResult) -> dict[str, Any]:
    """Final state per leaf task name; a sorted list for a task that ran more than once (as expected.json)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for task in result.tasks.values():
        # A DAG skipped by its condition stands for its tasks, which never existed (as kfp.local has it).
        if task.kind != "dag" or task.state == TaskState.SKIPPED_CONDITION:
            grouped[task.name].append(task.state.value)
    return {name: states[0] if len(states) == 1 else sorted(states) for name, states in grouped.items()}


def check_artifact(path: Path, metadata: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """Content by digest where the reference recorded one, and metadata (Metrics values, for one)."""
    if "sha256" in expected:
        size, sha = digest(path)
        assert (size, sha) == (expected["size"], expected["sha256"]), f"{where}: content differs ({path})"
    if expected.get("metadata"):
        assert same_value(metadata, expected["metadata"]), f"{where}: metadata {metadata}"


@pytest.mark.skipif(not EXPECTED, reason="the shared kfp corpus is not next to this checkout")
@pytest.mark.parametrize("name", SUPPORTED)
def test_corpus_file(name: str, backend_name: str, tmp_path: Path) -> None:
    entry = EXPECTED[name]
    backend = make_backend(backend_name, corpus_images())
    result = run(
        CORPUS / "pipelines" / name,
        backend=backend,
        params=params_for(entry, tmp_path),
        root=tmp_path / "root",
    )

    assert result.state.value.lower() == entry["outcome"], f"{name}: {result.error}"
    states = leaf_states(result)
    for task, expected_state in entry["task_states"].items():
        assert task in states, f"{name}: task {task} never ran (ran: {sorted(states)})"
        assert states[task] == expected_state, f"{name}: task {task}"

    ignored = set(entry.get("nondeterministic_fields") or [])
    for key, expected in entry["outputs"].items():
        if f"outputs.{key}" in ignored:
            continue
        if isinstance(expected, dict) and "type" in expected:
            artifact = result.artifacts[key]
            assert isinstance(artifact, Path)
            check_artifact(artifact, {}, {**expected, "metadata": None}, f"{name}: output {key}")
        else:
            assert same_value(result.outputs.get(key), expected), f"{name}: output {key}"

    by_name = {t.name: t for t in result.tasks.values() if t.kind != "dag"}
    for task, outputs in entry.get("task_outputs", {}).items():
        if not isinstance(outputs, dict) or task not in by_name:
            continue  # repeated tasks (loops) are listed, and compared by the control-flow tests
        actual = by_name[task]
        for key, expected in outputs.items():
            if f"task_outputs.{task}.{key}" in ignored:
                continue
            if isinstance(expected, dict) and "type" in expected:
                art = actual.artifacts[key]
                check_artifact(art.path, art.metadata, expected, f"{name}: {task}.{key}")
            else:
                assert same_value(actual.outputs.get(key), expected), f"{name}: {task}.{key}"
