"""What an imported artifact outside the root may be, before a task is given it (runner/engine/external.py):
regular files and folders that flow's user may read; nothing a container could use to reach the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backends.base import HOST_FILES_COPIED, HOST_FILES_MOUNTED, Mount
from backends.workspaces import WORKSPACE_PATH
from roots.local.files import LocalRootFiles
from runner.engine.external import ExternalArtifacts, RunWorkspace, UnreadableImportError
from runner.engine.graph import ArtifactRef
from runner.engine.placeholders import Context, render
from runner.layout import IN_WORKSPACE


class _Task:
    where = "root.dag.tasks.read"


class _Node:
    """The two fields ExternalArtifacts reads of a node."""

    task = _Task()

    def __init__(self, uri: str) -> None:
        self.artifacts = {"data": [ArtifactRef("artifact", uri, "system.Dataset")]}


def reach(uri: str, root: Path, host_files: str) -> tuple[str, tuple[Mount, ...]]:
    reached = ExternalArtifacts(LocalRootFiles(root), "run1", host_files).for_task(_Node(uri))  # type: ignore[arg-type]
    return reached.refs[uri].uri, reached.mounts


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "rows.csv").write_text("a,b\n")
    (folder / "latest.csv").symlink_to(folder / "part" / "rows.csv")
    return folder


def test_a_folder_is_mounted_read_only_at_its_path_for_containers_here(dataset: Path, tmp_path: Path) -> None:
    link = tmp_path / "current"
    link.symlink_to(dataset)
    uri, mounts = reach(f"file://{link}", tmp_path / "root", HOST_FILES_MOUNTED)
    # The task sees the path named; the mount is of what it named when checked.
    assert uri == str(link) and mounts == (Mount(str(dataset), str(link), read_only=True),)


def test_a_folder_is_copied_into_the_run_elsewhere(dataset: Path, tmp_path: Path) -> None:
    uri, mounts = reach(str(dataset), tmp_path / "root", HOST_FILES_COPIED)
    assert uri.startswith("run1/.imports/") and uri.endswith("/dataset") and mounts == ()
    copied = tmp_path / "root" / uri
    assert (copied / "part" / "rows.csv").read_text() == "a,b\n"
    assert (copied / "latest.csv").read_text() == "a,b\n"  # a link to a file: its content


@pytest.mark.parametrize("host_files", [HOST_FILES_MOUNTED, HOST_FILES_COPIED])
def test_a_pipe_inside_a_folder_is_refused(dataset: Path, tmp_path: Path, host_files: str) -> None:
    os.mkfifo(dataset / "part" / "feed")
    with pytest.raises(UnreadableImportError, match=r"part/feed is not a regular file or folder$"):
        reach(str(dataset), tmp_path / "root", host_files)


def test_a_copied_folder_may_not_link_to_a_folder(dataset: Path, tmp_path: Path) -> None:
    (dataset / "loop").symlink_to(dataset)  # copied, it would never end
    with pytest.raises(UnreadableImportError, match=r"loop is a link to no regular file$"):
        reach(str(dataset), tmp_path / "root", HOST_FILES_COPIED)
    uri, _ = reach(str(dataset), tmp_path / "root", HOST_FILES_MOUNTED)  # in a container it points there
    assert uri == str(dataset)


@pytest.mark.parametrize("path", ["/proc/self/environ", "/sys/kernel", "/dev/zero"])
def test_the_kernel_s_files_are_refused(tmp_path: Path, path: str) -> None:
    link = tmp_path / "innocent.txt"
    link.symlink_to(path)  # followed once, then checked
    with pytest.raises(UnreadableImportError, match=r"innocent.txt: a file of the kernel's"):
        reach(str(link), tmp_path / "root", HOST_FILES_MOUNTED)


def test_a_pipe_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "feed")  # copying it would wait for a writer
    with pytest.raises(UnreadableImportError, match=r"feed: not a regular file or folder$"):
        reach(str(tmp_path / "feed"), tmp_path / "root", HOST_FILES_COPIED)


def into_workspace(uri: str, workspace: Path, task_path: str) -> ArtifactRef:
    """The artifact as a task consuming it gets it, imported with `download_to_workspace`."""
    node = _Node(uri)
    node.artifacts["data"][0].metadata[IN_WORKSPACE] = True
    run_workspace = RunWorkspace(lambda: LocalRootFiles(workspace), task_path, str(workspace.parent / "root"))
    external = ExternalArtifacts(
        LocalRootFiles(workspace.parent / "root"), "run1", HOST_FILES_COPIED, run_workspace
    )
    return external.for_task(node).refs[uri]  # type: ignore[arg-type]


def test_an_import_into_the_workspace_is_copied_to_kfps_path(dataset: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    ref = into_workspace(str(dataset), workspace, WORKSPACE_PATH)
    assert (workspace / f".artifacts{dataset}" / "latest.csv").read_text() == "a,b\n"
    # In containers the URI is the one imported, and the flag makes its path the copy, as in KFP.
    assert ref.uri == str(dataset) and ref.metadata == {IN_WORKSPACE: True}
    artifact = {"uri": ref.uri, "metadata": ref.metadata}
    context = Context({"inputs": {"artifacts": {"data": {"artifacts": [artifact]}}}}, {}, "t")
    assert render(["{{$.inputs.artifacts['data'].path}}"], context) == [f"/kfp-workspace/.artifacts{dataset}"]
    # Where tasks see the workspace at its folder: the copy's path is the URI, without the flag.
    ref = into_workspace(str(dataset), workspace, str(workspace))
    assert ref.uri == f"{workspace}/.artifacts{dataset}" and ref.metadata == {}


def test_an_import_into_the_workspace_never_follows_a_link_a_task_left_there(
    dataset: Path, tmp_path: Path
) -> None:
    workspace, elsewhere = tmp_path / "workspace", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    (workspace / ".artifacts").symlink_to(elsewhere)  # a task may write anything into the workspace
    with pytest.raises(UnreadableImportError) as raised:
        into_workspace(str(dataset), workspace, WORKSPACE_PATH)
    assert raised.value.message.startswith(
        f"cannot copy the imported artifact {dataset} into the run's workspace"
    )
    assert list(elsewhere.iterdir()) == []


def test_an_import_into_the_workspace_never_names_a_path_out_of_it(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnreadableImportError) as raised:
        into_workspace(f"{tmp_path}/a/../f", tmp_path / "workspace", WORKSPACE_PATH)
    assert raised.value.message.endswith("into the run's workspace: '..' in its path")
    assert not (tmp_path / "workspace").exists()


def test_an_import_of_the_roots_own_file_into_the_workspace_is_copied_from_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run0" / "produce").mkdir(parents=True)
    (root / "run0" / "produce" / "table").write_text("rows")
    ref = into_workspace("run0/produce/table", tmp_path / "workspace", WORKSPACE_PATH)
    # KFP's path of the URI the tasks get (the root's URI and the file's path in it), in the workspace.
    assert (tmp_path / "workspace" / f".artifacts{root}" / "run0" / "produce" / "table").read_text() == "rows"
    assert ref.uri == "run0/produce/table" and ref.metadata == {IN_WORKSPACE: True}
    with pytest.raises(UnreadableImportError) as raised:
        into_workspace("run0/produce/missing", tmp_path / "workspace", WORKSPACE_PATH)
    assert raised.value.message == f"the imported artifact {root}/run0/produce/missing does not exist"
