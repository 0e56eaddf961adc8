"""Workspaces beyond the conformance suite's cases: the suite's pipeline is still what kfp compiles, a bad
workspace stops `flow run` with one line, and a task cannot use its workspace to reach the host's files."""

from __future__ import annotations

from pathlib import Path

import pytest
from kfp import compiler

from runner import reruns
from runner.testing import assert_succeeded
from runner.testing.conformance import WORKSPACE, WORKSPACE_IMPORT
from runner.testing.session import FlowSession
from tests.conftest import TEST_IMAGE_MAP, require_docker
from tests.integration import kfp_workspace
from tests.integration.test_cli import flow

# A task that leaves links to the host's files in the workspace: removing the workspace must not follow them.
LINKS = """
pipelineInfo: {name: workspace-links}
schemaVersion: 2.1.0
components:
  comp-link:
    executorLabel: exec-link
    inputDefinitions: {parameters: {ws: {parameterType: STRING}, target: {parameterType: STRING}}}
deploymentSpec:
  executors:
    exec-link:
      container:
        image: busybox:latest
        command: [sh, -c, 'ln -s "$1" "$0/to-host" && ln -s / "$0/to-root" && mkdir "$0/d" &&
                  ln -s "$1" "$0/d/x"', "{{$.inputs.parameters['ws']}}", "{{$.inputs.parameters['target']}}"]
root:
  inputDefinitions: {parameters: {target: {parameterType: STRING}}}
  dag:
    tasks:
      link:
        componentRef: {name: comp-link}
        taskInfo: {name: link}
        inputs:
          parameters:
            ws: {runtimeValue: {constant: '{{$.workspace_path}}'}}
            target: {componentInputParameter: target}
---
platforms: {kubernetes: {pipelineConfig: {workspace: {size: 1Mi}}}}
"""

# `{{$.workspace_path}}` in a command itself (which kfp.local resolves): the task gets the workspace too.
IN_COMMAND = """
pipelineInfo: {name: workspace-in-command}
schemaVersion: 2.1.0
components:
  comp-write: {executorLabel: exec-write}
  comp-read:
    executorLabel: exec-read
    outputDefinitions: {parameters: {got: {parameterType: STRING}}}
deploymentSpec:
  executors:
    exec-write:
      container: {image: busybox:latest, command: [sh, -c, 'echo hi > "$0/f"', "{{$.workspace_path}}"]}
    exec-read:
      container:
        image: busybox:latest
        command: [sh, -c, 'cat "$0/f" > "$1"', "{{$.workspace_path}}",
                  "{{$.outputs.parameters['got'].output_file}}"]
root:
  dag:
    tasks:
      write: {componentRef: {name: comp-write}, taskInfo: {name: write}}
      read: {componentRef: {name: comp-read}, taskInfo: {name: read}, dependentTasks: [write]}
---
platforms: {kubernetes: {pipelineConfig: {workspace: {size: 1Mi}}}}
"""


def test_the_suites_pipelines_are_what_kfp_compiles(tmp_path: Path) -> None:
    """The suite runs without kfp, so it keeps kfp's compiled text; it must be kfp 2.17.3's own."""
    for kept, pipeline in kfp_workspace.COMPILED.items():
        path = tmp_path / kept.name
        compiler.Compiler().compile(pipeline, package_path=str(path))
        assert path.read_text() == kept.read_text(), "run python -m tests.integration.kfp_workspace"


def test_a_bad_workspace_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(WORKSPACE.read_text().replace("size: 64Mi", "size: 64 Mi"))
    done = flow("run", str(path), "--backend", "process", "--root", str(tmp_path / "root"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "workspace: size '64 Mi' is not a Kubernetes quantity" in done.stderr
    assert "platforms.kubernetes.pipelineConfig.workspace.size" in done.stderr


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_removing_a_workspace_never_follows_its_links(tmp_path: Path, backend: str) -> None:
    if backend == "docker":
        require_docker()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    options = {"image_map": TEST_IMAGE_MAP, "pull": "never"}
    with FlowSession(backend, tmp_path / "flow", backend_options=options) as session:
        result = session.run(LINKS, {"target": str(precious)})
        assert_succeeded(result)
        assert not (tmp_path / "flow" / "workspaces" / result.run_id).exists()
    assert (precious / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_a_command_naming_the_workspace_gets_it(tmp_path: Path, backend: str) -> None:
    if backend == "docker":
        require_docker()
    options = {"image_map": TEST_IMAGE_MAP, "pull": "never"}
    with FlowSession(backend, tmp_path / "flow", backend_options=options) as session:
        result = session.run(IN_COMMAND)
    assert_succeeded(result)
    assert result.tasks["read"].outputs == {"got": "hi\n"}


def test_a_rerun_of_a_succeeded_run_removes_the_workspace_it_made_again(tmp_path: Path) -> None:
    workspaces = tmp_path / "flow" / "workspaces"
    with FlowSession("process", tmp_path / "flow") as session:
        first = session.run(WORKSPACE)
        assert_succeeded(first)
        again = reruns.rerun(first.run_id, "write-note", backend=session.backend, store=session.store)
        assert_succeeded(again)
        assert session.store is not None
        record = session.store.task(again.run_id, "write-note")
    # The rerun used the workspace of the run it re-ran (gone since that run succeeded, so made anew),
    # and removed it once it succeeded too: nothing may resume that run any more.
    assert record is not None and record.inputs["workspace"] == str(workspaces / first.run_id)
    assert not any(workspaces.iterdir())


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_a_file_of_the_root_imported_into_the_workspace_is_read_there(tmp_path: Path, backend: str) -> None:
    if backend == "docker":
        require_docker()
    options = {"image_map": TEST_IMAGE_MAP, "pull": "never"}
    with FlowSession(backend, tmp_path / "flow", backend_options=options) as session:
        kept = session.root / "kept" / "notes.txt"
        kept.parent.mkdir(parents=True)
        kept.write_text("from the root")
        result = session.run(WORKSPACE_IMPORT, {"uri": str(kept)})
    assert_succeeded(result)
    assert result.tasks["importer"].artifacts["artifact"].uri == "kept/notes.txt"  # recorded in the root
    content, path, uri = result.outputs["Output"].split("|")
    # KFP's path of the URI the task gets (the root as tasks see it: /flow in a container), in the workspace.
    assert content == "from the root" and path.endswith("/kept/notes.txt") and "/.artifacts/" in path
    assert path.endswith(f".artifacts{uri}") if backend == "docker" else path == uri
