"""The local pipeline root: the file operations the engine does on every backend's root."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backends.rootfiles import LocalRootFiles, folder_digest


def test_read_exists_and_digests_report_only_what_is_there(tmp_path: Path) -> None:
    files = LocalRootFiles(tmp_path)
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


def test_reset_empties_a_folder_and_copies_go_both_ways(tmp_path: Path) -> None:
    files = LocalRootFiles(tmp_path / "root")
    files.write("run/task/stale", b"old")
    files.reset("run/task", create=True)
    assert list((tmp_path / "root/run/task").iterdir()) == []
    files.reset("run/task", create=False)
    assert not (tmp_path / "root/run/task").exists()

    source = tmp_path / "data"
    (source / "inner").mkdir(parents=True)
    (source / "inner/x.txt").write_text("x")
    files.copy_in(source, "run/import/data")
    assert files.read(["run/import/data/inner/x.txt"]) == {"run/import/data/inner/x.txt": b"x"}
    assert files.copy_out("run", tmp_path / "out") == 1
    assert (tmp_path / "out/import/data/inner/x.txt").read_text() == "x"
