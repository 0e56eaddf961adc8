"""Python pipelines, kfp's or flow's, wherever a pipeline is taken: a `.py` file for `flow run`, `flow
compile`, `runner.run` and the pytest fixtures, and pipeline objects passed directly. kfp's are compiled by
the real kfp (2.17.3, a dev dependency). The UI's start form: tests/ui/test_api.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from click.testing import CliRunner

import runner
from runner.cli.main import main
from runner.errors import UsageError
from runner.store import RunState
from tests.conftest import require_docker

pytest_plugins = ["pytester"]

# Components without kfp's pip step (install_kfp_package=False): the process backend runs them at once.
KFP_FILE = """
from kfp import dsl


@dsl.component(base_image="flow-test/python:3.11", install_kfp_package=False)
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="kfp-adder")
def adder(x: int = 1, y: int = 2) -> int:
    first = add(a=x, b=y)
    return add(a=first.output, b=10).output
"""

SECOND_KFP_PIPELINE = """

@dsl.pipeline(name="kfp-doubler")
def doubler(x: int = 4) -> int:
    return add(a=x, b=x).output
"""

FLOW_FILE = """
from runner import component, pipeline


@component
def times(a: int, b: int) -> int:
    return a * b


@pipeline(name="flow-times")
def multiply(x: int = 3) -> int:
    return times(a=x, b=7).output
"""


def write(folder: Path, text: str, name: str = "pipeline.py") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def module_of(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pipelines_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flow_compile_and_run_take_a_kfp_file(tmp_path: Path) -> None:
    source = write(tmp_path, KFP_FILE)
    compiled = CliRunner().invoke(main, ["compile", str(source)])
    assert compiled.exit_code == 0, compiled.output
    spec = yaml.safe_load(compiled.stdout)
    assert spec["pipelineInfo"]["name"] == "kfp-adder"
    assert spec["sdkVersion"] == "kfp-2.17.3"  # compiled by kfp's own compiler

    done = CliRunner().invoke(
        main, ["run", str(source), "--backend", "process", "-p", "x=3", "--root", str(tmp_path / "r")]
    )
    assert done.exit_code == 0, done.output
    assert "Output = 15" in done.stdout


def test_a_file_with_several_pipelines_asks_which_one_in_one_line(tmp_path: Path) -> None:
    source = write(tmp_path, KFP_FILE + SECOND_KFP_PIPELINE)
    refused = CliRunner().invoke(main, ["run", str(source), "--backend", "process"])
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: {source}: defines several pipelines (adder, doubler); "
        "name one with --function (function= in Python)\n"
    )
    chosen = CliRunner().invoke(main, ["compile", str(source), "--function", "doubler"])
    assert chosen.exit_code == 0 and yaml.safe_load(chosen.stdout)["pipelineInfo"]["name"] == "kfp-doubler"

    result = runner.run(source, function="doubler", backend="process", root=tmp_path / "r")
    assert result.state == RunState.SUCCEEDED and result.outputs == {"Output": 8}


def test_without_kfp_a_kfp_file_is_one_line_naming_pip_install_kfp(tmp_path: Path) -> None:
    source = write(tmp_path, KFP_FILE)
    # A Python where kfp cannot be imported, as on a machine without it.
    hide_kfp = "import sys; sys.modules['kfp'] = None; from runner.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", hide_kfp, "compile", str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {source}: defines a kfp pipeline; compiling it needs kfp, which is not installed here: "
        "pip install kfp\n"
    )


def test_run_takes_python_files_and_pipeline_objects_of_kfp_and_flow(tmp_path: Path) -> None:
    kfp_file, flow_file = write(tmp_path, KFP_FILE, "kfp_adder.py"), write(tmp_path, FLOW_FILE, "times.py")
    runs = {
        "kfp file": runner.run(str(kfp_file), backend="process", params={"x": 5}, root=tmp_path / "r"),
        "kfp object": runner.run(
            module_of(kfp_file).adder, backend="process", params={"y": 0}, root=tmp_path / "r"
        ),
        "flow file": runner.run(flow_file, backend="process", root=tmp_path / "r"),
        "flow object": runner.run(
            module_of(flow_file).multiply, backend="process", params={"x": 2}, root=tmp_path / "r"
        ),
    }
    assert {name: (r.state, r.outputs) for name, r in runs.items()} == {
        "kfp file": (RunState.SUCCEEDED, {"Output": 17}),
        "kfp object": (RunState.SUCCEEDED, {"Output": 11}),
        "flow file": (RunState.SUCCEEDED, {"Output": 21}),
        "flow object": (RunState.SUCCEEDED, {"Output": 14}),
    }
    assert runs["kfp object"].pipeline == "kfp-adder" and runs["flow object"].pipeline == "flow-times"
    with pytest.raises(UsageError, match="not a pipeline: int"):
        runner.run(42, backend="process")


def test_the_fixtures_take_python_files_and_pipeline_objects(pytester: pytest.Pytester) -> None:
    require_docker()  # the kfp object also runs in containers
    write(pytester.path, KFP_FILE, "kfp_adder.py")
    write(pytester.path, FLOW_FILE, "times.py")
    pytester.makepyfile(
        test_pipelines="""
        import pytest
        from kfp_adder import adder
        from times import multiply

        def test_kfp_file(flow_run):
            assert flow_run("kfp_adder.py", params={"x": 4}).outputs == {"Output": 16}

        @pytest.mark.flow_backends("process", "docker")
        def test_kfp_object(flow_run):
            assert flow_run(adder).outputs == {"Output": 13}

        def test_flow_object(flow_run):
            assert flow_run(multiply, params={"x": 1}).outputs == {"Output": 7}

        def test_one_kfp_component_of_a_file(flow_component):
            assert flow_component("kfp_adder.py", "add", a=2, b=3).outputs == {"Output": 5}
        """
    )
    outcome = pytester.runpytest("-p", "no:cacheprovider", "--flow-backend", "process")
    outcome.assert_outcomes(passed=5)
