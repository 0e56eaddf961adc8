"""--run-as-non-root on a cluster: task pods run as nobody (65534) and still write their outputs to the
volume, whose folders the root-owned helper pod makes writable for them."""

from __future__ import annotations

import hashlib

from backends.k8s import KubernetesBackend
from runner import run
from tests.conftest import cluster_options, require_cluster
from tests.integration.test_security import nobody_writes_outputs


def test_run_as_non_root_pods_run_as_nobody_and_write_their_outputs() -> None:
    require_cluster()
    backend = KubernetesBackend(**cluster_options(), run_as_non_root=True)
    try:
        result = run(nobody_writes_outputs(), backend=backend)
    finally:
        backend.close()
    assert result.succeeded, result.error
    task = result.tasks["who"]
    assert task.outputs == {"uid": "65534\n"}
    assert task.artifacts["gid"].digest == hashlib.sha256(b"65534\n").hexdigest()
