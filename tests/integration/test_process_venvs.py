"""On the process backend a task that installs packages (kfp's `packages_to_install` and its own kfp pip
step) runs in a venv of its own: flow's environment is the same before and after (`pip freeze`).

No package index is used: the tasks tell pip to take wheels from a folder the test writes (PIP_NO_INDEX,
PIP_FIND_LINKS), so these runs are offline, and kfp's own `kfp==2.17.3` step is satisfied by flow's
environment, which has kfp (a dev dependency).
"""

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

import runner
from runner.store import RunState, TaskState

IMAGE = "flow-test/python:3.11"


@dsl.component(base_image=IMAGE, packages_to_install=["networkx==1.0"])
def old_networkx() -> str:
    import networkx

    return str(networkx.__version__)


@dsl.component(base_image=IMAGE, packages_to_install=["flow-venv-probe==2.0"])
def probe() -> str:
    import flow_venv_probe

    return str(flow_venv_probe.VALUE)


@dsl.component(base_image=IMAGE, packages_to_install=["flow-no-such-package==1.0"])
def needs_missing() -> None:
    return None


def offline(task: dsl.PipelineTask, wheels: Path) -> None:
    """pip of this task takes no index, only the wheels in `wheels` (as a user sets a private index)."""
    task.set_env_variable("PIP_NO_INDEX", "1").set_env_variable("PIP_FIND_LINKS", str(wheels))


def installs(wheels: Path) -> GraphComponent:
    @dsl.pipeline(name="installs")
    def pipeline() -> None:
        with dsl.ParallelFor([1, 2, 3], parallelism=3):
            offline(old_networkx(), wheels)  # three tasks at once that need the same venv: built once
        offline(probe(), wheels)

    return pipeline


def missing_package(wheels: Path) -> GraphComponent:
    @dsl.pipeline(name="missing-package")
    def pipeline() -> None:
        offline(needs_missing(), wheels)

    return pipeline


def write_wheel(folder: Path, name: str, version: str, code: str) -> None:
    """A minimal pure-Python wheel of a module `name` (dashes as underscores)."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    files = {
        f"{module}/__init__.py": code,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: flow-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{dist}.dist-info/RECORD"] = record + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


def pip_freeze() -> str:
    done = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def offline_wheels(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "networkx", "1.0", "__version__ = '1.0'\n")
    write_wheel(wheels, "flow-venv-probe", "2.0", "VALUE = 'probe 2.0'\n")
    return wheels


def test_installing_tasks_get_venvs_built_once_and_flows_environment_never_changes(
    offline_wheels: Path, flow_home: Path, tmp_path: Path
) -> None:
    before = pip_freeze()
    first = runner.run(installs(offline_wheels), backend="process", root=tmp_path / "root")
    assert first.state == RunState.SUCCEEDED, first.error
    loop = [t for t in first.tasks.values() if t.name == "old-networkx"]
    assert [t.outputs["Output"] for t in loop] == ["1.0"] * 3  # downgraded, in the venv only
    assert next(t for t in first.tasks.values() if t.name == "probe").outputs["Output"] == "probe 2.0"
    assert sum("built the task's virtual environment" in t.log() for t in loop) == 1

    folder = flow_home / "venvs"
    assert folder.stat().st_mode & 0o777 == 0o700
    built = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert len(built) == 2  # one per set of requirements

    again = runner.run(installs(offline_wheels), backend="process", root=tmp_path / "root", cache=False)
    assert again.state == RunState.SUCCEEDED, again.error
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == built
    assert not any("built the task's virtual environment" in t.log() for t in again.tasks.values())

    assert pip_freeze() == before
    import networkx

    assert networkx.__version__ != "1.0"
    with pytest.raises(ImportError):
        __import__("flow_venv_probe")


def test_a_package_no_index_has_is_one_line_naming_it(offline_wheels: Path, tmp_path: Path) -> None:
    result = runner.run(missing_package(offline_wheels), backend="process", root=tmp_path / "root")
    assert result.state == RunState.FAILED
    task = result.tasks["needs-missing"]
    assert task.state == TaskState.FAILED
    # The reason first, as every task failure has it; the log's last lines follow.
    assert task.error.splitlines()[0] == (
        "cannot install flow-no-such-package==1.0 for the task: no such package or version reachable"
    )
