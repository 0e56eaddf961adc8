"""flow ui on a cluster run: artifacts are read out of the cluster's volume, logs from the copy flow kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backends.k8s import DEFAULT_FILES_IMAGE, KubernetesBackend
from runner.testing.conformance import WIRING
from runner.testing.session import FlowSession
from runner.ui.app import create_app
from tests.conftest import TEST_BUSYBOX_IMAGE, cluster_options, flow_kubeconfig, require_cluster


def test_the_ui_previews_a_cluster_run_artifact_and_shows_its_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_cluster()
    # The UI makes its own backend for the run's root, with flow.yaml's images (no registry here).
    (tmp_path / "flow.yaml").write_text(
        f"image_map:\n  {DEFAULT_FILES_IMAGE}: {TEST_BUSYBOX_IMAGE}\npull: never\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", flow_kubeconfig() or "")
    backend = KubernetesBackend(**cluster_options())
    with FlowSession(backend, tmp_path / "flow") as session:
        result = session.run(WIRING, {"n": 3})
    backend.close()
    assert result.succeeded, result.error
    monkeypatch.setenv("FLOW_HOME", str(tmp_path / "flow"))

    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        listed = client.get("/api/runs").json()
        assert [run["backend"] for run in listed["runs"]] == ["k8s"]
        table = client.get(
            f"/api/runs/{result.run_id}/preview", params={"path": f"{result.run_id}/produce/table"}
        )
        assert table.status_code == 200, table.text
        assert [line for line in table.json()["text"].split()] == ["1", "2", "3"] or "1" in table.text
        log = client.get(f"/api/runs/{result.run_id}/logs/produce")
        assert log.status_code == 200
