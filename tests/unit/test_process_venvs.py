"""The process backend's task venvs: which commands install packages, where venvs live, who may write
there, and which unused venvs go. Building and using them: tests/integration/test_process_venvs.py."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from backends.process import venvs
from runner import layout
from runner.dsl import component
from runner.dsl.components import ContainerBacked

# The first script of a kfp 2.17.3 lightweight component with packages_to_install, as kfp compiles it.
KFP_SCRIPT = (
    '\nif ! [ -x "$(command -v pip)" ]; then\n    python3 -m ensurepip || python3 -m ensurepip --user'
    " || apt-get install python3-pip\nfi\n\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet"
    " --no-warn-script-location 'six==1.16.0'  &&  python3 -m pip install --quiet --no-warn-script-location"
    " 'kfp==2.17.3' '--no-deps' 'typing-extensions>=3.7.4,<5; python_version<\"3.9\"' && \"$0\" \"$@\"\n"
)
KFP_PROGRAM = 'program_path=$(mktemp -d)\n\nprintf "%s" "$0" > "$program_path/ephemeral_component.py"\n'


def test_the_pip_steps_of_kfps_command_are_found_in_order() -> None:
    command = ["sh", "-c", KFP_SCRIPT, "sh", "-ec", KFP_PROGRAM, "def f():\n    'pip install nothing'\n"]
    assert venvs.install_steps(command) == [
        ["--quiet", "--no-warn-script-location", "six==1.16.0"],
        [
            "--quiet",
            "--no-warn-script-location",
            "kfp==2.17.3",
            "--no-deps",
            'typing-extensions>=3.7.4,<5; python_version<"3.9"',
        ],
    ]


def test_flows_own_packages_to_install_and_a_container_scripts_pip_are_found() -> None:
    @component(packages_to_install=["networkx==1.0", "six"])
    def uses() -> None:
        return None

    assert isinstance(uses, ContainerBacked)
    container = uses.container()
    steps = venvs.install_steps([*container["command"], *container["args"]])
    assert steps == [["--quiet", "--no-warn-script-location", "networkx==1.0", "six"]]
    assert venvs.install_steps(["bash", "-xc", "pip3 install -U rich; python app.py"]) == [["-U", "rich"]]


def test_commands_that_install_nothing_run_unchanged(tmp_path: Path) -> None:
    for argv in (
        ["python3", "-c", "import subprocess  # pip install x"],
        ["sh", "-c", "echo pip install x > notes.txt"],
        ["echo", "-c", "pip install x"],
    ):
        assert venvs.launch(argv, tmp_path, {}) == venvs.Launch(argv, {})
    assert venvs.launch(["sh", "-c", "echo hi"], tmp_path, {}).argv == ["sh", "-c", "echo hi"]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (["--quiet", "--no-warn-script-location", "kfp==2.17.3", "--no-deps"], True),  # a dev dependency
        (["typing-extensions>=3.7.4,<5; python_version<'3.9'"], True),  # not wanted on this Python
        (["pyyaml>=6", "click"], True),  # with what they require
        (["click==1.0"], False),
        (["flow-no-such-package"], False),
        (["-U", "pyyaml"], False),  # an upgrade may look for a newer one: pip decides
        (["kfp[all]==2.17.3", "--no-deps"], False),
        (["flow @ https://example.invalid/flow.whl"], False),
        (["--index-url", "https://example.invalid/simple", "pyyaml"], True),
    ],
)
def test_a_step_flows_environment_satisfies_needs_no_pip_run(step: list[str], expected: bool) -> None:
    assert venvs.satisfied(step) is expected


def test_venvs_live_under_flow_home(flow_home: Path) -> None:
    assert venvs.venvs_folder() == layout.flow_home() / "venvs" == flow_home / "venvs"


def test_a_venv_folder_another_user_could_write_into_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "venvs"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    with pytest.raises(venvs.InstallError, match="not a folder of this user's alone"):
        venvs.prepare(folder, [["six"]])
    assert list(folder.iterdir()) == []  # nothing was built in it
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(venvs.InstallError):
        venvs.prepare(tmp_path / "linked", [["six"]])


def test_pruning_removes_venvs_unused_for_long_unless_a_task_holds_them(tmp_path: Path) -> None:
    folder = tmp_path / "venvs"
    for name in ("old", "held", "recent"):
        (folder / name).mkdir(parents=True)
        (folder / name / venvs.READY).write_text("[]")
    long_ago = time.time() - 30 * 86400
    for name in ("old", "held"):
        os.utime(folder / name / venvs.READY, (long_ago, long_ago))
    lock = os.open(folder / "held.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)  # as a running task holds its venv
        venvs.prune(folder, time.time() - venvs.UNUSED_DAYS * 86400)
    finally:
        os.close(lock)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["held", "recent"]


def test_the_wrapper_runs_the_command_in_the_venv_or_says_in_one_line_why_not(tmp_path: Path) -> None:
    folder = tmp_path / "venvs"
    steps = [["--quiet", "kfp==2.17.3", "--no-deps"]]  # flow's environment has it: no pip run, offline
    probe = "import sys, kfp; print(sys.prefix); print(kfp.__version__)"
    script = f'pip install --quiet kfp==2.17.3 --no-deps; python3 -c "{probe}" && command -v pip'
    command = ["sh", "-c", f'{script} && echo "$VIRTUAL_ENV"']
    first = venvs.launch(command, folder, dict(os.environ))
    assert first.argv[-4:] == ["--", *command] and first.lock is None  # not built yet: the wrapper builds
    done = subprocess.run(first.argv, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (home,) = [p for p in folder.iterdir() if p.is_dir()]
    assert home.name == venvs.digest(steps)
    assert done.stdout.splitlines()[-4:] == [str(home), "2.17.3", str(home / "bin" / "pip"), str(home)]

    built = venvs.launch(command, folder, dict(os.environ))
    assert built.argv == command and built.lock is not None  # straight into the venv, holding it
    try:
        assert built.env["VIRTUAL_ENV"] == str(home)
        assert built.env["PATH"].startswith(f"{home / 'bin'}{os.pathsep}")
        venvs.prune(folder, time.time() + 1)  # every venv counts as unused, but this one is held
        assert (home / venvs.READY).exists()
    finally:
        os.close(built.lock)

    broken = venvs.launch(command, tmp_path / "other", dict(os.environ)).argv
    broken[broken.index("--") + 1] = "flow-no-such-shell"
    failed = subprocess.run(broken, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert (tmp_path / venvs.ERROR_FILE).read_text() == (
        "cannot start 'flow-no-such-shell': No such file or directory"
    )
