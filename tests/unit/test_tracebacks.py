"""A failing component's traceback: from the user's frames on, at the lines of the user's file; the task's
error is the exception's line (runner/executor/running.py, runner/engine/tracebacks.py)."""

# mypy: disable-error-code="no-untyped-def"

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import runner
from runner.dsl.program import source_file
from runner.dsl.source import find_pipeline
from runner.engine.tracebacks import exception_line, task_error, without_runner_frames

# As this module's import path names it: how pytest imported it decides.
THIS_FILE = __name__.replace(".", "/") + ".py"


def helper_line(func: Any, text: str) -> int:
    """The line of this file where `text` is, inside `func`."""
    lines, first = inspect.getsourcelines(func)
    return first + next(i for i, line in enumerate(lines) if text in line)


@runner.component
def divide(a: int, b: int) -> float:
    def ratio(x: int, y: int) -> float:
        return x / y

    return ratio(a, b)


@runner.component
def says_int(text: str) -> int:
    return text  # type: ignore[return-value]


def run_component(component: Any, params: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess[str]:
    """The compiled command of `component`, run with a bare interpreter (as a task runs it)."""
    ir = runner.compile(component)
    (executor,) = ir["deploymentSpec"]["executors"].values()
    spec = executor["container"]
    executor_input = {
        "inputs": {"parameterValues": params},
        "outputs": {
            "parameters": {"Output": {"outputFile": str(tmp / "task" / "Output")}},
            "outputFile": str(tmp / "task" / "executor_output.json"),
        },
    }
    args = [a.replace("{{$}}", json.dumps(executor_input)) for a in spec["args"]]
    command = [sys.executable, "-I", "-S", *spec["command"][1:], *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp, timeout=60)


def test_a_failure_shows_the_users_frames_at_the_lines_of_the_users_file(tmp_path: Path) -> None:
    done = run_component(divide, {"a": 1, "b": 0}, tmp_path)
    assert done.returncode == 1
    here = THIS_FILE
    call, raised = helper_line(divide.python_func, "return ratio"), helper_line(divide.python_func, "x / y")
    assert done.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{here}", line {call}, in divide',
        "    return ratio(a, b)",
        "           ^^^^^^^^^^^",
        f'  File "{here}", line {raised}, in ratio',
        "    return x / y",
        "           ~~^~~",
        "ZeroDivisionError: division by zero",
    ]


def test_an_error_of_the_executor_itself_keeps_its_frames(tmp_path: Path) -> None:
    done = run_component(says_int, {"text": "seven"}, tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):" and 'File "flow_executor.py"' in lines[1]
    assert lines[-1] == "TypeError: says_int: output 'Output' is str 'seven', not NUMBER_INTEGER"


def test_the_function_succeeds_as_before(tmp_path: Path) -> None:
    done = run_component(divide, {"a": 3, "b": 2}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "task" / "executor_output.json").read_text()) == {
        "parameterValues": {"Output": 1.5}
    }


def test_a_file_is_named_as_its_module_path_names_it_or_by_its_name(tmp_path: Path) -> None:
    assert source_file(divide.python_func) == THIS_FILE
    assert source_file(runner.dsl.program.source_file) == "runner/dsl/program.py"
    assert source_file(runner.component) == "runner/dsl/components.py"
    path = tmp_path / "deep" / "my_pipeline.py"
    path.parent.mkdir()
    path.write_text("from runner import component\n\n\n@component\ndef one() -> int:\n    return 1\n")
    found = find_pipeline(path)
    assert source_file(found.python_func) == "my_pipeline.py"
    code = runner.compile(found)["deploymentSpec"]["executors"]["exec-one"]["container"]["command"][-1]
    assert "__flow_source__ = ('my_pipeline.py', 5)\n" in code and str(tmp_path) not in code


KFP_LOG = """\
[KFP Executor 2026-12-07 21:44:20,741 INFO]: Got executor_input:
}
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/usr/lib/python3.11/site-packages/kfp/dsl/executor_main.py", line 109, in <module>
    executor_main()
  File "/usr/lib/python3.11/site-packages/kfp/dsl/executor_main.py", line 101, in executor_main
    output_file = executor.execute()
                  ^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/site-packages/kfp/dsl/executor.py", line 453, in execute
    result = self.func(**func_kwargs)
             ^^^^^^^^^^^^^^^^^^^^^^^^
  File "/tmp/tmp.A2DqKQB9oD/ephemeral_component.py", line 10, in boom
    return inner(x)
           ^^^^^^^^
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
ValueError: not JSON
  line two of the message
"""


def test_kfps_executor_frames_are_left_out_and_its_temporary_folder_too() -> None:
    shown = without_runner_frames(KFP_LOG.splitlines())
    assert shown == [
        "[KFP Executor 2026-12-07 21:44:20,741 INFO]: Got executor_input:",
        "}",
        "Traceback (most recent call last):",
        '  File "ephemeral_component.py", line 10, in boom',
        "    return inner(x)",
        "           ^^^^^^^^",
        '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads',
        "    return _default_decoder.decode(s)",
        "ValueError: not JSON",
        "  line two of the message",
    ]
    assert exception_line(shown) == "ValueError: not JSON"


def test_a_traceback_only_of_the_runner_is_kept_whole_and_text_without_one_as_it_is() -> None:
    lines = [*KFP_LOG.splitlines()[:13], "TypeError: kfp refused the input"]
    assert without_runner_frames(lines) == [line.replace("/tmp/tmp.A2DqKQB9oD/", "") for line in lines]
    plain = ["starting", "    indented output", "done: 3 errors"]
    assert without_runner_frames(plain) == plain and exception_line(plain) == ""


def test_the_task_error_is_the_exception_line_only_when_python_died_of_it(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("".join(f"noise {i}\n" for i in range(40)) + KFP_LOG)
    error = task_error("exited with code 1", 1, str(log)).splitlines()
    assert error[0] == "ValueError: not JSON"
    assert error[1:] == without_runner_frames(KFP_LOG.splitlines())[-10:]
    # sys.exit(3) after a handled exception was logged: the traceback is not why it ended
    error = task_error("exited with code 3", 3, str(log)).splitlines()
    assert error == ["exited with code 3", *KFP_LOG.splitlines()[-10:]]
    assert task_error("killed by SIGKILL", -9, str(tmp_path / "none")) == "killed by SIGKILL"
