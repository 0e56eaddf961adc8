"""The conformance suite (runner/testing/conformance.py) on the Kubernetes backend: the same test bodies
as the process and Docker backends, outputs compared with the process backend's."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from kubernetes import client, config

from runner.testing.conformance import BackendConformance
from tests.conftest import (
    TEST_IMAGE_MAP,
    TEST_NAMESPACE,
    cluster_options,
    flow_kubeconfig,
    require_cluster,
    require_flow_image,
)
from tests.s3_conformance import S3RootConformance


class TestKubernetesBackend(BackendConformance):
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


class TestKubernetesBackendS3Root(S3RootConformance, TestKubernetesBackend):
    """The Kubernetes backend with an s3:// root: each pod stages its task's files itself, with the flow
    image (scripts/build-flow-image.sh) and the AWS variables of the test's environment."""

    @pytest.fixture(autouse=True)
    def _flow_image(self) -> None:
        require_flow_image()
