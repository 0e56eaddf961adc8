"""The conformance suite (runner/testing/conformance.py) on the Kubernetes backend: the same test bodies
as the process and Docker backends, outputs compared with the process backend's."""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from kubernetes import client, config

from backends.k8s.workspace import claim_name
from backends.workspaces import Workspace
from runner.testing.conformance import BackendConformance
from runner.testing.session import FlowSession
from tests.conftest import (
    TEST_IMAGE_MAP,
    TEST_NAMESPACE,
    admin_kubeconfig,
    cluster_options,
    flow_kubeconfig,
    require_cluster,
    require_flow_image,
)
from tests.integration.kfp_workspace import STORAGE_CLASS
from tests.s3_conformance import S3Objects, S3RootConformance


class TestKubernetesBackend(S3Objects, BackendConformance):
    backend = "k8s"
    image_map = TEST_IMAGE_MAP
    busy_iterations = 3_000_000  # a few seconds: the kubelet's summary is sampled once a second
    backend_options: ClassVar[dict[str, Any]] = {
        k: v for k, v in cluster_options().items() if k not in ("image_map", "pull")
    }

    @pytest.fixture(autouse=True)
    def _cluster(self) -> None:
        require_cluster()

    def leftovers(self, run_id: str) -> list[str]:
        with config.new_client_from_config(config_file=flow_kubeconfig()) as api:
            pods = client.CoreV1Api(api).list_namespaced_pod(
                TEST_NAMESPACE, label_selector=f"flow.run={run_id}"
            )
        return [pod.metadata.name for pod in pods.items]

    @pytest.fixture
    def workspace_storage(self, tmp_path: Path) -> Iterator[None]:
        """Two hostPath volumes of the workspace pipeline's storage class, which its claims bind to (no
        provisioner runs on the test cluster); removed afterwards with any claim still bound to them.

        A claim of the class binds to any free volume of it, another test's too, and that test's teardown
        would then delete the claim under this run: the tests running beside each other (pytest-xdist
        workers) take turns, one holding the lock at a time."""
        lock_path = Path(tempfile.gettempdir()) / "flow-test-workspace-volumes.lock"
        with (
            open(lock_path, "a") as lock,
            config.new_client_from_config(config_file=admin_kubeconfig()) as api,
        ):
            fcntl.flock(lock, fcntl.LOCK_EX)
            admin = client.CoreV1Api(api)
            names = [f"flow-test-workspace-{uuid.uuid4().hex[:8]}-{i}" for i in range(2)]
            for name in names:
                admin.create_persistent_volume(_volume(name, tmp_path / name))
            try:
                yield
            finally:
                for name in names:
                    claim = admin.read_persistent_volume(name).spec.claim_ref
                    if claim is not None:
                        with contextlib.suppress(client.exceptions.ApiException):
                            admin.delete_namespaced_persistent_volume_claim(claim.name, claim.namespace)
                    admin.delete_persistent_volume(name)

    def workspace_exists(self, session: FlowSession, owner: str) -> bool:
        """Whether the run's workspace claim is there and not being deleted."""
        name = claim_name(Workspace(owner=owner, host_dir="", size=""))
        with config.new_client_from_config(config_file=flow_kubeconfig()) as api:
            try:
                claim = client.CoreV1Api(api).read_namespaced_persistent_volume_claim(name, TEST_NAMESPACE)
            except client.exceptions.ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        return claim.metadata.deletion_timestamp is None


def _volume(name: str, folder: Path) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": str(folder), "type": "DirectoryOrCreate"},
        },
    }


class TestKubernetesBackendS3Root(S3RootConformance, TestKubernetesBackend):
    """The Kubernetes backend with an s3:// root: each pod stages its task's files itself, with the flow
    image (scripts/build-flow-image.sh) and the AWS variables of the test's environment."""

    @pytest.fixture(autouse=True)
    def _flow_image(self) -> None:
        require_flow_image()
