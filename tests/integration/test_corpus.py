"""The public KFP corpus: pipelines compiled by the real kfp SDK give the outcome and outputs expected.json
records for the reference runner (kfp.local), on every local backend."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import Backend
from roots import kinds
from roots.files import RootFiles
from runner import run
from runner.api import ArtifactResult, RunResult, TaskResult
from runner.store import TaskState
from tests.conftest import IN_CI, TEST_PYTHON_IMAGE, make_backend

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kfp-corpus"
EXPECTED: dict[str, dict[str, Any]] = (
    json.loads((CORPUS / "expected.json").read_text()) if CORPUS.is_dir() else {}
)

SUPPORTED = sorted(EXPECTED)

# Where the reference (kfp.local) contradicts KFP's documented semantics, flow follows KFP. Each entry
# replaces one expected field, and says why.
KFP_SEMANTICS: dict[tuple[str, str], Any] = {
    # The loop body's `prefix` input is wired to make-prefix's output (pipelinechannel--make-prefix-Output);
    # kfp.local resolved it to the loop item instead and printed "a: a". KFP passes the upstream output.
    ("pipeline_with_parallelfor_pipeline_param.yaml", "task_outputs/print-with-prefix-2"): [
        {"Output": "dynamic-prefix: a"},
        {"Output": "dynamic-prefix: b"},
    ],
}
RANDOM_RERUNS = 8


def corpus_images() -> dict[str, str]:
    """Every image the corpus names, mapped to the local test image (the reference run did the same)."""
    return {image: TEST_PYTHON_IMAGE for entry in EXPECTED.values() for image in entry.get("images", [])}


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


class Comparison:
    """Compares a run with an expected.json entry, leaving out the fields the reference saw vary."""

    def __init__(self, name: str, entry: dict[str, Any]) -> None:
        self.name, self.entry = name, entry
        self.varying = list(entry.get("nondeterministic_fields") or [])

    def varies(self, path: str) -> bool:
        return any(path == v or path.startswith(f"{v}/") or v.startswith(f"{path}/") for v in self.varying)

    def value(self, path: str, actual: Any, expected: Any) -> None:
        if not self.varies(path):
            assert same_value(actual, expected), f"{self.name}: {path}: {actual!r} != {expected!r}"

    def artifact(
        self, path: str, art: ArtifactResult | None, files: RootFiles, uri: str, expected: dict[str, Any]
    ) -> None:
        """Content by digest where the reference recorded one, and metadata (Metrics values, for one)."""
        if "sha256" in expected and not self.varies(path):
            size, sha = files.digests([uri]).get(uri, (0, ""))
            assert (size, sha) == (expected["size"], expected["sha256"]), f"{self.name}: {path} differs"
        if art is not None:
            for key, value in (expected.get("metadata") or {}).items():
                self.value(f"{path}/metadata/{key}", art.metadata.get(key), value)


def is_artifact(expected: Any) -> bool:
    return isinstance(expected, dict) and "type" in expected


def parameters_only(outputs: dict[str, Any]) -> str:
    """A repeated task's output parameters as comparable text; numbers as floats (kfp.local's habit)."""

    def floats(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, list):
            return [floats(v) for v in value]
        if isinstance(value, dict):
            return {k: floats(v) for k, v in value.items()}
        return value

    return json.dumps({k: floats(v) for k, v in outputs.items() if not is_artifact(v)}, sort_keys=True)


def test_the_corpus_is_next_to_the_checkout() -> None:
    if not EXPECTED:
        message = f"the shared kfp corpus is not at {CORPUS}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    assert len(EXPECTED) == len(list((CORPUS / "pipelines").glob("*.yaml")))


@pytest.fixture
def corpus_backend(backend_name: str) -> Iterator[Backend]:
    backend = make_backend(backend_name, corpus_images())
    yield backend
    backend.close()


@pytest.mark.parametrize("name", SUPPORTED)
def test_corpus_file(name: str, corpus_backend: Backend, tmp_path: Path) -> None:
    entry = EXPECTED[name]
    backend = corpus_backend
    root = backend.default_root(tmp_path / "root")
    root_text = kinds.for_new_run(backend, root, tmp_path / "root")
    files = kinds.view(backend, root_text).files()
    # `{tmpdir}` must be a folder the tasks see: one under the pipeline root, as the backend shows it.
    files.reset("tmpdir", create=True)
    seen_tmpdir = f"{kinds.view(backend, root_text).path}/tmpdir"
    params = {
        key: value.replace("{tmpdir}", seen_tmpdir) if isinstance(value, str) else value
        for key, value in entry["params"].items()
    }
    result = run(CORPUS / "pipelines" / name, backend=backend, params=params, root=root)
    observed = entry.get("outputs_observed") or []
    for _ in range(RANDOM_RERUNS):
        # A random pipeline (a die roll) may take a branch the reference never saw; the branches it saw are
        # the ones to compare, so roll again (uncached) until one of those comes up.
        if not observed or any(same_value(result.outputs, o) for o in observed):
            break
        result = run(CORPUS / "pipelines" / name, backend=backend, params=params, root=root, cache=False)
    check = Comparison(name, entry)

    assert result.state.value.lower() == entry["outcome"], f"{name}: {result.error}"
    states = leaf_states(result)
    for task, expected_state in entry["task_states"].items():
        if not check.varies(f"task_states/{task}"):
            assert states.get(task) == expected_state, f"{name}: task {task} (all: {states})"

    for key, expected in entry["outputs"].items():
        if is_artifact(expected):
            local = result.artifacts[key]
            assert isinstance(local, Path)
            check.artifact(
                f"outputs/{key}", None, files, local.relative_to(Path(result.root)).as_posix(), expected
            )
        elif observed:
            values = [o[key] for o in observed]
            assert any(same_value(result.outputs.get(key), v) for v in values), f"{name}: output {key}"
        else:
            check.value(f"outputs/{key}", result.outputs.get(key), expected)

    by_name: dict[str, list[TaskResult]] = defaultdict(list)
    for task_result in result.tasks.values():
        if task_result.kind != "dag":
            by_name[task_result.name].append(task_result)
    for task, outputs in entry.get("task_outputs", {}).items():
        if check.varies(f"task_outputs/{task}"):
            continue
        outputs = KFP_SEMANTICS.get((name, f"task_outputs/{task}"), outputs)
        ran = by_name.get(task, [])
        if isinstance(outputs, list):  # a task in a loop: compare the iterations' parameters as a whole
            actual = sorted(parameters_only(r.outputs) for r in ran)
            assert actual == sorted(parameters_only(o) for o in outputs), f"{name}: {task} iterations"
            continue
        assert len(ran) == 1, f"{name}: task {task} ran {len(ran)} times"
        for key, expected in outputs.items():
            path = f"task_outputs/{task}/{key}"
            if is_artifact(expected):
                art = ran[0].artifacts[key]
                check.artifact(path, art, files, art.uri, expected)
            else:
                check.value(path, ran[0].outputs.get(key), expected)
