"""The root axis: which kind a recorded root is, and the one refusal of a kind a backend cannot use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.base import PermanentBackendError
from backends.fake import FakeBackend
from roots import kinds
from roots.base import MOUNT_PATH
from roots.local.folder import FolderRoot
from roots.pvc import ClaimRoot
from roots.s3 import S3Root


def test_a_root_is_read_as_its_kind() -> None:
    assert kinds.parse("/srv/flow/root") == FolderRoot(Path("/srv/flow/root"))
    assert kinds.parse("pvc://team/flow-root") == ClaimRoot("team", "flow-root")
    assert kinds.parse("s3://bucket/runs/") == S3Root("bucket", "runs")
    assert kinds.parse("s3://bucket/runs/").uri == "s3://bucket/runs"


def test_a_root_of_no_known_kind_is_one_line_naming_it() -> None:
    with pytest.raises(PermanentBackendError) as raised:
        kinds.parse("gs://bucket/runs")
    assert str(raised.value) == (
        "a pipeline root is a folder, pvc://NAMESPACE/CLAIM or s3://BUCKET/PREFIX, not 'gs://bucket/runs'"
    )


@pytest.mark.parametrize(
    ("root", "where"),
    [
        (FolderRoot(Path("/srv/root")), "in_pods"),
        (ClaimRoot("team", "flow-root"), "on_host"),
        (ClaimRoot("team", "flow-root"), "in_containers"),
    ],
)
def test_a_kind_a_place_cannot_see_is_refused_in_one_line(root: Any, where: str) -> None:
    arguments = {"on_host": (Path("/tmp"),), "in_containers": (Path("/tmp"), None), "in_pods": (None,)}
    with pytest.raises(PermanentBackendError) as raised:
        getattr(root, where)("some", *arguments[where])
    assert str(raised.value).startswith(
        f"the some backend cannot keep its pipeline root in {root.kind} {root.uri}: "
    )
    assert str(raised.value).endswith(", which do not see it")


def test_another_claim_than_the_clusters_own_is_refused_naming_both() -> None:
    cluster: Any = type("Cluster", (), {"namespace": "team", "claim": "flow-root"})()
    with pytest.raises(
        PermanentBackendError, match=r"volume claim pvc://team/flow-root .* not pvc://team/other"
    ):
        ClaimRoot("team", "other").in_pods("k8s", cluster)


def test_a_folder_is_seen_in_place_by_processes_and_at_the_mount_point_by_containers(tmp_path: Path) -> None:
    root = FolderRoot(tmp_path / "root")
    on_host, in_containers = root.on_host("p", tmp_path), root.in_containers("d", tmp_path, None)
    assert on_host.path == on_host.uri == str(tmp_path / "root") and not on_host.copies
    assert in_containers.path == in_containers.uri == MOUNT_PATH
    assert in_containers.binds(None) == {str(tmp_path / "root"): MOUNT_PATH}  # type: ignore[arg-type]


def test_an_object_store_is_seen_at_kfps_local_path_in_containers_and_staged(tmp_path: Path) -> None:
    root = S3Root.parse("s3://bucket/runs")
    on_host, in_containers = root.on_host("p", tmp_path), root.in_containers("d", tmp_path, None)
    assert on_host.path == on_host.uri == str(tmp_path / "bucket/runs") and on_host.copies
    assert (in_containers.path, in_containers.uri) == ("/s3/bucket/runs", "s3://bucket/runs")


def test_a_new_runs_root_is_the_backends_default_folder_made_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    made = kinds.for_new_run(FakeBackend(), None, tmp_path / "link" / "root")
    assert made == str(tmp_path / "real" / "root") and Path(made).is_dir()
