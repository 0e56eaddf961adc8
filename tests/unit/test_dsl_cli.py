"""`flow compile pipeline.py`: the @pipeline of a file (or the one named) as IR YAML, errors as one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from runner.cli.main import main
from runner.spec import load_text

COMPONENTS = """
from runner import component, pipeline

@component
def double(x: int) -> int:
    return 2 * x
"""

ONE = (
    COMPONENTS
    + """
@pipeline(name="only")
def only(x: int = 1) -> int:
    return double(x=x).output
"""
)

TWO = (
    ONE
    + """
@pipeline(name="second")
def second(x: int = 2) -> int:
    return double(x=double(x=x).output).output
"""
)


def write(tmp_path: Path, text: str, name: str = "pipeline.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_compile_prints_the_ir_of_the_files_pipeline(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["compile", str(write(tmp_path, ONE))])
    assert done.exit_code == 0, done.output
    spec = load_text(done.stdout)
    assert spec.name == "only" and set(spec.root.dag.tasks) == {"double"}


def test_compile_writes_a_file_and_picks_a_function(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    source = write(tmp_path, TWO)
    done = CliRunner().invoke(main, ["compile", str(source), "-o", str(out), "--function", "second"])
    assert done.exit_code == 0, done.output
    assert f"compiled {source} to {out}" in done.stderr
    spec = yaml.safe_load(out.read_text())
    assert spec["pipelineInfo"]["name"] == "second"
    assert set(spec["root"]["dag"]["tasks"]) == {"double", "double-2"}

    component = CliRunner().invoke(main, ["compile", str(source), "--function", "double"])
    assert component.exit_code == 0 and yaml.safe_load(component.stdout)["pipelineInfo"]["name"] == "double"


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (TWO, [], "defines several pipelines (only, second); name one with --function"),
        ("import runner\n", [], "defines no pipeline (kfp's @dsl.pipeline or flow's @pipeline)"),
        (
            COMPONENTS + "\n@component\ndef triple(x: int) -> int:\n    return 3 * x\n",
            [],
            "defines no pipeline and several components (double, triple); name one with --function",
        ),
        (ONE, ["--function", "nope"], "'nope' is not a pipeline or a component in this file"),
        (ONE + "\nraise RuntimeError('broken')\n", [], "cannot import: RuntimeError: broken"),
        (
            COMPONENTS + "\n@pipeline\ndef bad():\n    double(y=1)\n",
            [],
            "bad: call of 'double': component 'double' has no input 'y'; its inputs: x",
        ),
    ],
)
def test_compile_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, text: str, args: list[str], message: str
) -> None:
    done = CliRunner().invoke(main, ["compile", str(write(tmp_path, text)), *args])
    assert done.exit_code == 2
    assert message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_file_with_one_component_and_no_pipeline_compiles_the_component_as_kfp_does(
    tmp_path: Path,
) -> None:
    done = CliRunner().invoke(main, ["compile", str(write(tmp_path, COMPONENTS))])
    assert done.exit_code == 0, done.output
    assert load_text(done.stdout).name == "double"


def test_a_python_file_next_to_its_helpers_can_import_them(tmp_path: Path) -> None:
    write(tmp_path, COMPONENTS, "helpers.py")
    text = "from helpers import double\nfrom runner import pipeline\n\n"
    text += "@pipeline\ndef uses(x: int = 3) -> int:\n    return double(x=x).output\n"
    done = CliRunner().invoke(main, ["compile", str(write(tmp_path, text))])
    assert done.exit_code == 0, done.output
    assert load_text(done.stdout).name == "uses"


def test_run_refuses_function_for_a_yaml_file(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["run", str(write(tmp_path, "{}", "p.yaml")), "--function", "x"])
    assert done.exit_code == 2
    assert "--function is for Python pipeline files" in done.stderr
