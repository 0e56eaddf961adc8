"""`flow completion SHELL` and what a shell completes, asked as a shell asks (click's `_FLOW_COMPLETE`
protocol): commands, run ids, the tasks of the run given, backends; the test-only fake backend is not
offered to users; a misspelt command gets the nearest one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.main import main
from runner.runs.runsession import open_store
from runner.store import RunRecord, RunState, TaskRecord, TaskState

ROOT = Path(__file__).resolve().parents[2]


def completed(line: str, shell: str = "bash") -> list[str]:
    """What `flow` offers for the last word of `line` (the word being typed; "" after a space)."""
    words = line.split(" ")
    result = CliRunner().invoke(
        main,
        [],
        prog_name="flow",
        env={
            "_FLOW_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        },
    )
    assert result.exit_code == 0, result.output
    if shell == "zsh":  # triplets of lines: type, value, help
        return result.output.splitlines()[1::3]
    return [row.split(",", 1)[1].split("\t")[0] for row in result.output.splitlines() if row]


@pytest.fixture
def two_runs() -> None:
    with open_store() as store:
        for run_id, pipeline in (("c0ffee01", "train"), ("c0de0002", "report")):
            store.save_run(
                RunRecord(
                    run_id=run_id,
                    pipeline=pipeline,
                    pipeline_file=f"{pipeline}.yaml",
                    backend="process",
                    root="/r",
                    state=RunState.SUCCEEDED,
                )
            )
        store.save_tasks(
            TaskRecord(run_id="c0ffee01", path=path, name=path.rsplit("/", 1)[-1], component="c", kind=kind)
            for path, kind in (
                ("prepare", "container"),
                ("for-loop-2", "dag"),
                ("for-loop-2/0/train", "container"),
            )
        )
        store.save_tasks(
            [TaskRecord("c0de0002", "render", "render", "c", "container", state=TaskState.FAILED)]
        )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_of_each_shell_calls_flow_back_with_the_completion_variable(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert f"_FLOW_COMPLETE={shell}_complete" in result.output.replace('"', "")


def test_an_unknown_shell_is_refused() -> None:
    result = CliRunner().invoke(main, ["completion", "tcsh"])
    assert result.exit_code == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.output


def test_commands_are_completed_but_not_the_hidden_driver() -> None:
    commands = completed("flow ")
    assert {"run", "runs", "show", "logs", "rerun", "completion"} <= set(commands)
    assert "driver" not in commands
    assert completed("flow re") == ["rerun", "resume"]
    assert completed("flow completion ") == ["bash", "zsh", "fish"]


def test_run_ids_are_completed_newest_first_with_their_pipeline(two_runs: None) -> None:
    assert completed("flow show ") == ["latest", "c0de0002", "c0ffee01"]
    assert completed("flow logs c0f") == ["c0ffee01"]
    assert completed("flow resume c0d") == ["c0de0002"]
    assert completed("flow cancel l") == ["latest"]
    assert completed("flow artifacts c0de", shell="zsh") == ["c0de0002"]
    fish = CliRunner().invoke(
        main,
        [],
        prog_name="flow",
        env={"_FLOW_COMPLETE": "fish_complete", "COMP_WORDS": "flow show c0d", "COMP_CWORD": "c0d"},
    )
    # fish's lines are laid out as click's version lays them out; they hold the run and its help
    assert "c0de0002" in fish.output and "report SUCCEEDED" in fish.output
    assert "c0ffee01" not in fish.output


def test_the_tasks_of_the_run_given_are_completed(two_runs: None) -> None:
    assert completed("flow logs c0ffee01 ") == ["prepare", "for-loop-2", "for-loop-2/0/train"]
    assert completed("flow logs c0f for") == ["for-loop-2", "for-loop-2/0/train"]
    assert completed("flow rerun latest ") == ["render"]
    assert completed("flow logs nosuchrun ") == []


def test_a_name_a_shell_would_act_on_is_never_offered(two_runs: None) -> None:
    """A hostile pipeline's task names reach the store; completing one would type it into the command
    line, where Enter would run `$(...)`. Its help, a pipeline's name, is shown with escapes."""
    with open_store() as store:
        store.save_tasks(
            TaskRecord("c0ffee01", path, path, "c", "container")
            for path in ("pre$(touch pwned)", "pre;reboot", "pre`id`", "pre'x", "pre\nplain,x", "pre x")
        )
        store.save_run(RunRecord("c0ffee03", "\x1b]0;evil\x07red", "p.yaml", "process", "/r"))
    assert completed("flow logs c0ffee01 pre") == ["prepare"]
    zsh = CliRunner().invoke(
        main,
        [],
        prog_name="flow",
        env={"_FLOW_COMPLETE": "zsh_complete", "COMP_WORDS": "flow show c0ffee03", "COMP_CWORD": "2"},
    )
    assert zsh.output.splitlines() == ["plain", "c0ffee03", "\\x1b]0;evil\\x07red PENDING"]


def test_nothing_is_completed_and_no_store_made_without_one(flow_home: Path) -> None:
    assert completed("flow show ") == ["latest"]
    assert completed("flow logs latest ") == []
    assert not flow_home.exists()


def test_backends_are_completed_without_the_test_only_fake() -> None:
    """The pytest plugin registered `fake` in this process (the engine tests run on it); it is still not
    offered."""
    assert completed("flow run p.yaml --backend ") == ["local", "docker", "k8s", "process"]
    assert completed("flow rerun RUN TASK --backend d") == ["docker"]


def flow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`flow` in a fresh interpreter: no pytest plugin there registers the fake backend."""
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ},
    )


def test_the_fake_backend_is_no_backend_of_the_command(tmp_path: Path) -> None:
    pipeline = ROOT / "examples" / "iris" / "pipeline.yaml"
    refused = flow("run", str(pipeline), "--backend", "fake", "--root", str(tmp_path / "root"))
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: --backend: unknown backend 'fake' (known: local, docker, k8s, process)\n"
    )
    assert "fake" not in flow("run", "--help").stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_bash_completes_with_the_printed_script(two_runs: None, tmp_path: Path) -> None:
    """The script as bash loads it, its function called as bash calls it on Tab."""
    script = tmp_path / "flow.bash"
    script.write_text(CliRunner().invoke(main, ["completion", "bash"]).output, encoding="utf-8")
    shim = tmp_path / "bin" / "flow"  # `flow` on PATH runs this checkout, as the installed script would
    shim.parent.mkdir()
    shim.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c \"from runner.cli.main import main; main(prog_name='flow')\"\n",
        encoding="utf-8",
    )
    shim.chmod(0o755)
    done = subprocess.run(
        [
            "bash",
            "--norc",
            "-c",
            f"source {script}; COMP_WORDS=(flow logs c0ffee01 for); COMP_CWORD=3; _flow_completion flow;"
            ' printf "%s\\n" "${COMPREPLY[@]}"',
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["for-loop-2", "for-loop-2/0/train"]


def test_a_misspelt_command_gets_the_nearest_one_but_never_the_hidden_driver() -> None:
    misspelt = CliRunner().invoke(main, ["rnu", "p.yaml"])
    assert misspelt.exit_code == 2
    assert misspelt.output.endswith("Error: No such command 'rnu'; did you mean 'run'?\n")
    hidden = CliRunner().invoke(main, ["drivr"])
    assert hidden.output.endswith("Error: No such command 'drivr'.\n")
