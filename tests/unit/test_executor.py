"""flow's stdlib executor: ExecutorInput in, the function called with typed arguments, ExecutorOutput out."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest

from runner.executor import (
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Metrics,
    Model,
    Output,
    OutputPath,
    PipelineTaskFinalStatus,
    describe,
    execute,
    main,
)

EXECUTOR_DIR = Path(__file__).resolve().parents[2] / "runner" / "executor"


def executor_input(
    tmp: Path,
    params: dict[str, Any] | None = None,
    inputs: dict[str, list[dict[str, Any]]] | None = None,
    outputs: dict[str, str] | None = None,
    output_params: tuple[str, ...] = (),
) -> dict[str, Any]:
    task = tmp / "run" / "task"
    return {
        "inputs": {
            "parameterValues": params or {},
            "artifacts": {name: {"artifacts": arts} for name, arts in (inputs or {}).items()},
        },
        "outputs": {
            "parameters": {name: {"outputFile": str(task / name)} for name in output_params},
            "artifacts": {
                name: {
                    "artifacts": [
                        {
                            "name": name,
                            "type": {"schemaTitle": t},
                            "uri": str(task / name),
                            "metadata": {},
                        }
                    ]
                }
                for name, t in (outputs or {}).items()
            },
            "outputFile": str(task / "executor_output.json"),
        },
    }


def written(tmp: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((tmp / "run" / "task" / "executor_output.json").read_text())
    return value


def test_parameters_arrive_typed_and_the_return_value_is_reported(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def f(n: int, x: float, s: str, b: bool, items: list, cfg: dict, opt: Optional[str] = None) -> float:  # noqa: UP045
        seen.update(n=n, x=x, s=s, b=b, items=items, cfg=cfg, opt=opt)
        return n * x

    params = {"n": 3.0, "x": 2, "s": "hi", "b": "true", "items": "[1, 2]", "cfg": {"k": "v"}}
    result = execute(f, executor_input(tmp_path, params, output_params=("Output",)))

    assert seen == {"n": 3, "x": 2.0, "s": "hi", "b": True, "items": [1, 2], "cfg": {"k": "v"}, "opt": None}
    assert type(seen["n"]) is int and type(seen["x"]) is float
    assert result == {"parameterValues": {"Output": 6.0}}
    assert written(tmp_path) == result


def test_artifacts_have_paths_metadata_and_output_folders(tmp_path: Path) -> None:
    source = tmp_path / "in" / "data.csv"
    source.parent.mkdir()
    source.write_text("a,b\n1,2\n")

    def f(data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]) -> None:
        assert isinstance(data, Dataset) and data.metadata == {"rows": 1}
        with open(data.path) as handle, open(model.path, "w") as out:
            out.write(handle.read().upper())
        model.framework = "none"
        metrics.log_metric("accuracy", 0.5)

    given = {"data": [{"name": "data", "uri": str(source), "metadata": {"rows": 1}}]}
    outs = {"model": "system.Model", "metrics": "system.Metrics"}
    result = execute(f, executor_input(tmp_path, inputs=given, outputs=outs))

    model_path = tmp_path / "run" / "task" / "model"
    assert model_path.read_text() == "A,B\n1,2\n"
    assert result["artifacts"]["model"]["artifacts"][0] == {
        "name": "model",
        "uri": str(model_path),
        "metadata": {"framework": "none"},
    }
    assert result["artifacts"]["metrics"]["artifacts"][0]["metadata"] == {"accuracy": 0.5}
    assert written(tmp_path) == result


class Out(NamedTuple):
    total: int
    label: str


def test_named_tuple_outputs_and_a_plain_tuple(tmp_path: Path) -> None:
    def named() -> Out:
        return Out(3, "x")

    def plain() -> Out:
        return (4, "y")  # type: ignore[return-value]

    assert execute(named, executor_input(tmp_path))["parameterValues"] == {"total": 3, "label": "x"}
    assert execute(plain, executor_input(tmp_path))["parameterValues"] == {"total": 4, "label": "y"}


def test_an_integral_float_is_an_int_output(tmp_path: Path) -> None:
    def total(values: list) -> int:  # type: ignore[type-arg]
        return sum(values)  # type: ignore[no-any-return]

    result = execute(total, executor_input(tmp_path, {"values": [2.0, 3.0]}))
    assert result["parameterValues"] == {"Output": 5}
    assert type(result["parameterValues"]["Output"]) is int


def test_a_return_value_of_the_wrong_type_fails_naming_the_output(tmp_path: Path) -> None:
    def f() -> int:
        return "three"  # type: ignore[return-value]

    with pytest.raises(TypeError, match=r"f: output 'Output' is str"):
        execute(f, executor_input(tmp_path))
    assert not (tmp_path / "run" / "task" / "executor_output.json").exists()


def test_list_of_input_artifacts_output_path_and_input_path(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"part{i}"
        path.write_text(str(i))
        files.append({"name": "parts", "uri": str(path), "metadata": {}})

    def f(parts: Input[list[Dataset]], first: InputPath(Dataset), total: OutputPath(int)) -> None:  # type: ignore[valid-type]
        with open(total, "w") as handle:
            handle.write(str(sum(int(Path(p.path).read_text()) for p in parts)))
        assert Path(first).read_text() == "0"

    ei = executor_input(tmp_path, inputs={"parts": files, "first": files[:1]}, output_params=("total",))
    assert execute(f, ei) == {}
    assert (tmp_path / "run" / "task" / "total").read_text() == "3"


def test_classification_metrics_use_kfps_metadata_layout(tmp_path: Path) -> None:
    def f(cm: Output[ClassificationMetrics]) -> None:
        cm.log_confusion_matrix(["a", "b"], [[1, 2], [3, 4]])
        cm.log_roc_curve([0.0, 1.0], [0.0, 1.0], [1.0, 0.0])

    result = execute(f, executor_input(tmp_path, outputs={"cm": "system.ClassificationMetrics"}))
    metadata = result["artifacts"]["cm"]["artifacts"][0]["metadata"]
    assert metadata["confusionMatrix"] == {
        "annotationSpecs": [{"displayName": "a"}, {"displayName": "b"}],
        "rows": [{"row": [1, 2]}, {"row": [3, 4]}],
    }
    assert metadata["confidenceMetrics"][1] == {
        "confidenceThreshold": 0.0,
        "recall": 1.0,
        "falsePositiveRate": 1.0,
    }


def test_final_status_becomes_an_object(tmp_path: Path) -> None:
    def f(status: PipelineTaskFinalStatus) -> str:
        return f"{status.state}:{status.pipeline_task_name}:{status.error_message}"

    status = {"state": "FAILED", "pipelineTaskName": "main", "error": {"code": 1, "message": "boom"}}
    result = execute(f, executor_input(tmp_path, {"status": status}))
    assert result["parameterValues"]["Output"] == "FAILED:main:boom"


def test_main_reads_the_command_line(tmp_path: Path) -> None:
    def f(word: str) -> str:
        return word * 2

    ei = executor_input(tmp_path, {"word": "ab"})
    main(f, argv=["--executor_input", json.dumps(ei), "--function_to_execute", "f"])
    assert written(tmp_path) == {"parameterValues": {"Output": "abab"}}


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ("set", "parameter 'x': unsupported annotation"),
        ("Output[int]", "parameter 'x': Output[...] takes an artifact class"),
        ("Output[list[Dataset]]", "parameter 'x': a list of output artifacts"),
        ("complex", "parameter 'x': unsupported annotation"),
    ],
)
def test_unsupported_annotations_name_function_and_parameter(annotation: str, message: str) -> None:
    namespace: dict[str, Any] = {"Output": Output, "Dataset": Dataset}
    exec(f"def comp(x: {annotation}) -> None: pass", namespace)
    with pytest.raises(TypeError, match=re.escape(f"comp: {message}")):
        describe(namespace["comp"])


def test_missing_annotation_and_bad_return_are_refused() -> None:
    def untyped(x) -> None:  # type: ignore[no-untyped-def]
        pass

    def returns_set() -> set[int]:
        return set()

    with pytest.raises(TypeError, match="untyped: parameter 'x' has no type annotation"):
        describe(untyped)
    with pytest.raises(TypeError, match="returns_set: unsupported return annotation"):
        describe(returns_set)


def test_the_executor_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"runner"}
    for path in EXECUTOR_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path.name} imports {name}"
                if top == "runner":
                    assert name.startswith("runner.executor"), f"{path.name} imports {name}"
