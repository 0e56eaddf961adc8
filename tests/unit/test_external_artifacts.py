"""What an imported artifact outside the root may be, before a task is given it (runner/engine/external.py):
regular files and folders that flow's user may read; nothing a container could use to reach the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backends.base import HOST_FILES_COPIED, HOST_FILES_MOUNTED, Mount
from backends.rootfiles import LocalRootFiles
from runner.engine.external import ExternalArtifacts, UnreadableImportError
from runner.engine.graph import ArtifactRef


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
