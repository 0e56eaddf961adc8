"""The `flow` command as users type it: outputs, exit codes, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.testing.shellsteps import Step, pipeline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris" / "pipeline.yaml"


def flow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_run_then_inspect_the_run(tmp_path: Path) -> None:
    done = flow(
        "run",
        str(EXAMPLE),
        "--backend",
        "process",
        "-p",
        "seed=7",
        "-p",
        "model_type=tree",
        "--root",
        str(tmp_path / "root"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\x1b[" not in done.stdout, "piped output must be plain lines"
    assert "SUCCEEDED" in done.stdout and f"outputs are under {tmp_path / 'root'}" in done.stdout
    assert "output accuracy = " in done.stdout

    shown = json.loads(flow("show", "latest", "-o", "json").stdout)
    assert shown["state"] == "SUCCEEDED" and shown["params"]["seed"] == 7 and shown["backend"] == "process"
    tasks = {t["path"]: t for t in shown["tasks"]}
    assert set(tasks) == {"prepare-data", "train", "evaluate"}
    assert tasks["train"]["inputs"]["model_type"] == "tree" and tasks["train"]["attempts"] == 1
    assert 0.8 < shown["outputs"]["parameters"]["accuracy"] <= 1.0
    assert Path(shown["outputs"]["artifacts"]["metrics"][0]).is_file()

    run_id = shown["run_id"]
    assert run_id in flow("runs").stdout
    assert "train" in flow("show", run_id[:4]).stdout
    artifacts = flow("artifacts", run_id).stdout
    assert f"{run_id}/prepare-data/train" in artifacts and "system.Model" in artifacts
    logs = flow("logs", run_id, "evaluate")
    assert logs.returncode == 0 and "accuracy" in logs.stdout


def test_a_failed_run_exits_1_with_the_task_error(tmp_path: Path) -> None:
    path = tmp_path / "fail.yaml"
    path.write_text(pipeline({"boom": Step("echo about to fail; exit 4")}))
    done = flow("run", str(path), "--backend", "process", "--root", str(tmp_path / "root"))
    assert done.returncode == 1
    assert "exited with code 4" in done.stderr and "about to fail" in done.stderr


CYCLE = """
pipelineInfo: {name: cyclic}
schemaVersion: 2.1.0
components: {comp-a: {executorLabel: exec-a}}
deploymentSpec: {executors: {exec-a: {container: {image: busybox, command: [echo]}}}}
root:
  dag:
    tasks:
      a: {componentRef: {name: comp-a}, dependentTasks: [b]}
      b: {componentRef: {name: comp-a}, dependentTasks: [a]}
"""

LOOP = """
pipelineInfo: {name: looped}
schemaVersion: 2.1.0
components:
  comp-echo: {executorLabel: exec-echo, inputDefinitions: {parameters: {item: {parameterType: STRING}}}}
  comp-for-loop-1:
    inputDefinitions: {parameters: {item: {parameterType: STRING}, items: {parameterType: LIST}}}
    dag:
      tasks:
        echo:
          componentRef: {name: comp-echo}
          cachingOptions: {enableCache: false}
          retryPolicy: {maxRetryCount: 1, backoffDuration: 0s}
          inputs: {parameters: {item: {componentInputParameter: item}}}
deploymentSpec: {executors: {exec-echo: {container: {image: busybox, command: [echo]}}}}
root:
  inputDefinitions: {parameters: {items: {parameterType: LIST, defaultValue: [a, b]}}}
  dag:
    tasks:
      for-loop-1:
        componentRef: {name: comp-for-loop-1}
        inputs: {parameters: {items: {componentInputParameter: items}}}
        parameterIterator: {itemInput: item, items: {inputParameter: items}}
"""
# Nine aliases a level, seven levels deep: a few hundred bytes that expand to 9**7 strings.
BOMB = (
    "["
    + ", ".join(
        ["&a0 [x, x, x, x, x, x, x, x, x]"]
        + [f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 8)]
    )
    + "]"
)


@pytest.mark.parametrize(
    ("text", "args", "expected", "where"),
    [
        ("root: [unclosed\n", [], "malformed YAML", "pipeline.yaml:2:1"),
        ("name: just a mapping\n", [], "not a pipeline", "pipeline.yaml"),
        (CYCLE, [], "cycle: a -> b -> a", "pipeline.yaml: root.dag.tasks"),
        (CYCLE.replace("dependentTasks: [b]", ""), ["-p", "x=1"], "unknown parameter 'x'", "pipeline.yaml"),
        (None, ["-p", "seed=abc"], "expected an integer", "pipeline.yaml: parameter 'seed'"),
        (None, ["--backend", "nope"], "unknown backend 'nope'", "--backend"),
        (None, ["--backend", "dokcer"], "did you mean 'docker'?", "--backend"),
        (
            None,
            ["-p", "sed=7"],
            "(the pipeline takes: max_iter, model_type, seed, test_size); did you mean 'seed'?",
            "pipeline.yaml",
        ),
        (None, ["--namespace", "team"], "--namespace: only for --cluster", "flow run"),
        (
            LOOP.replace("cachingOptions", "cachingOptons"),
            [],
            "did you mean 'cachingOptions'?",
            "pipeline.yaml: components.comp-for-loop-1.dag.tasks.echo.cachingOptons",
        ),
        (
            LOOP.replace(
                "maxRetryCount: 1, backoffDuration: 0s", "maxRetryCount: many, backoffDuration: soon"
            ),
            [],
            "expected an integer, got 'many'",
            "retryPolicy.maxRetryCount",
        ),
        (
            LOOP.replace("inputParameter: items", "inputParameter: nope"),
            [],
            "no input parameter 'nope'",
            "pipeline.yaml: root.dag.tasks.for-loop-1.parameterIterator.items.inputParameter",
        ),
        (LOOP.replace("2.1.0", "9.0.0"), [], "schemaVersion '9.0.0'", "pipeline.yaml: schemaVersion"),
        (
            LOOP + "---\nplatforms: [1, 2, 3]\n",
            [],
            "expected a mapping",
            "pipeline.yaml: platform spec: platforms",
        ),
        (LOOP.replace("[a, b]", BOMB), [], "YAML alias *a0 is not allowed", "pipeline.yaml:17:"),
        (LOOP.replace("{name: looped}", "&top {name: *top}"), [], "YAML alias *top", "pipeline.yaml:2:"),
    ],
    ids=[
        "malformed",
        "not-a-pipeline",
        "cycle",
        "unknown-parameter",
        "wrong-type",
        "unknown-backend",
        "misspelled-backend",
        "misspelled-parameter",
        "cluster-option-without-cluster",
        "misspelled-field",
        "garbage-retry-policy",
        "loop-over-no-input",
        "unknown-schema-version",
        "garbage-platform-document",
        "alias-bomb",
        "recursive-anchor",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, text: str | None, args: list[str], expected: str, where: str
) -> None:
    path = EXAMPLE
    if text is not None:
        path = tmp_path / "pipeline.yaml"
        path.write_text(text)
    done = flow("run", str(path), *args, "--root", str(tmp_path / "root"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in done.stderr and where in done.stderr, done.stderr
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir()), "something started"


def test_unknown_run_is_exit_2() -> None:
    done = flow("show", "deadbeef")
    assert done.returncode == 2 and "no run 'deadbeef'" in done.stderr


def test_cluster_without_a_cluster_is_one_line_and_exit_2(tmp_path: Path) -> None:
    nowhere = {"KUBECONFIG": str(tmp_path / "no-kubeconfig"), "HOME": str(tmp_path)}
    done = flow("run", str(EXAMPLE), "--cluster", env=nowhere)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "no cluster" in done.stderr and "--backend k8s" in done.stderr
