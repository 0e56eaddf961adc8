"""The pipeline root's file operations, the engine's only way to its files: one contract, run on a local
folder here and on an S3 bucket in tests/integration/test_rootfiles_on_s3.py."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from roots.beneath import RefusedFile
from roots.files import RootFiles, folder_digest
from roots.local.files import LocalRootFiles


@pytest.fixture
def files(tmp_path: Path) -> RootFiles:
    return LocalRootFiles(tmp_path / "root")


def test_read_exists_and_digests_report_only_what_is_there(files: RootFiles) -> None:
    files.write("run/task/out", b"hello")
    files.write("run/task/model/weights.bin", b"\x00\x01")
    files.write("run/task/model/sub/config.json", b"{}")

    assert files.read(["run/task/out", "run/task/missing", "run/task/model"]) == {"run/task/out": b"hello"}
    assert files.exists(["run/task/out", "run/task/model", "run/nothing"]) == {
        "run/task/out",
        "run/task/model",
    }
    found = files.digests(["run/task/out", "run/task/model", "run/nothing"])
    assert found["run/task/out"] == (5, hashlib.sha256(b"hello").hexdigest())
    expected_folder = folder_digest(
        [
            ("weights.bin", hashlib.sha256(b"\x00\x01").hexdigest()),
            ("sub/config.json", hashlib.sha256(b"{}").hexdigest()),
        ]
    )
    assert found["run/task/model"] == (4, expected_folder)
    assert "run/nothing" not in found


def test_a_folder_digest_depends_on_names_and_contents_not_on_listing_order() -> None:
    pairs = [("a-c", "1"), ("a/b", "2")]
    assert folder_digest(pairs) == folder_digest(list(reversed(pairs)))
    assert folder_digest(pairs) != folder_digest([("a-c", "1"), ("a/b", "3")])
    assert folder_digest(pairs) != folder_digest([("a-d", "1"), ("a/b", "2")])


def test_reset_empties_a_folder_and_copies_go_both_ways(files: RootFiles, tmp_path: Path) -> None:
    files.write("run/task/stale", b"old")
    files.write("run/task-other/kept", b"kept")
    files.reset("run/task", create=True)
    assert files.exists(["run/task", "run/task/stale"]) == {"run/task"}
    assert files.digests(["run/task"])["run/task"][0] == 0
    files.reset("run/task", create=False)
    assert files.exists(["run/task", "run/task-other/kept"]) == {"run/task-other/kept"}

    source = tmp_path / "data"
    (source / "inner").mkdir(parents=True)
    (source / "inner/x.txt").write_text("x")
    files.copy_in(source, "run/import/data")
    files.copy_in(source / "inner/x.txt", "run/import/single")
    assert files.read(["run/import/data/inner/x.txt", "run/import/single"]) == {
        "run/import/data/inner/x.txt": b"x",
        "run/import/single": b"x",
    }
    assert files.copy_out("run", tmp_path / "out") == 3
    assert (tmp_path / "out/import/data/inner/x.txt").read_text() == "x"
    assert (tmp_path / "out/task-other/kept").read_text() == "kept"


def test_made_folders_exist_empty(files: RootFiles) -> None:
    files.make_folders(["run/a", "run/b/c"])
    assert files.exists(["run/a", "run/b/c", "run/d"]) == {"run/a", "run/b/c"}
    assert files.read(["run/a"]) == {}


def test_a_local_root_is_read_without_following_links(tmp_path: Path) -> None:
    """What a task may leave in the root: links to the host, a FIFO, a run folder replaced by a link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    files = LocalRootFiles(tmp_path / "root")
    assert files.read(["run/task/out"]) == {}  # no root yet: nothing there
    files.write("run/task/out", b"mine")
    files.write("run/task/folder/kept", b"kept")
    task = tmp_path / "root" / "run" / "task"
    (task / "link").symlink_to(outside / "secret")
    (task / "folder" / "link").symlink_to(outside / "secret")
    (task / "folder" / "dir").symlink_to(outside)
    os.mkfifo(task / "fifo")

    with pytest.raises(RefusedFile, match="run/task/link is a symbolic link"):
        files.read(["run/task/link"])
    with pytest.raises(RefusedFile, match="is not a regular file"):
        files.read(["run/task/fifo"])
    with pytest.raises(RefusedFile, match="over the limit of 3"):
        files.read(["run/task/out"], max_bytes=3)
    assert files.read_part("run/task/out", 1, 2) == b"in"
    assert files.exists(["run/task/link", "run/task/out"]) == {"run/task/out"}
    assert files.digests(["run/task/folder"])["run/task/folder"] == (
        4,
        folder_digest([("kept", hashlib.sha256(b"kept").hexdigest())]),
    )
    assert files.copy_out("run/task/folder", tmp_path / "copy") == 1
    assert [p.name for p in (tmp_path / "copy").iterdir()] == ["kept"]

    # The run folder replaced by a link: nothing is read, written or made through it.
    (tmp_path / "root" / "run").rename(tmp_path / "moved")
    (tmp_path / "root" / "run").symlink_to(outside)
    with pytest.raises(RefusedFile, match="run is a symbolic link"):
        files.read(["run/secret"])
    with pytest.raises(RefusedFile, match="run is a symbolic link"):
        files.write("run/planted", b"x")
    with pytest.raises(RefusedFile, match="run is a symbolic link"):
        files.reset("run/task", create=True)
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
