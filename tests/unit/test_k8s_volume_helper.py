"""Which existing volume helper pod an engine replaces instead of reusing (the real cluster replacing one:
tests/e2e/test_k8s.py, test_a_volume_helper_that_cannot_serve_is_replaced)."""

from __future__ import annotations

import pytest
from kubernetes import client

from backends.k8s.pods import MAIN_CONTAINER, PodSettings
from backends.k8s.volume import HelperPod

IMAGE = "flow-test/busybox:latest"
SETTINGS = PodSettings(namespace="team", claim="flow-root", pull_policy="Never")


def helper_pod(image: str, phase: str, waiting: str | None = None) -> client.V1Pod:
    state = client.V1ContainerState(
        waiting=client.V1ContainerStateWaiting(reason=waiting) if waiting else None,
        running=None if waiting else client.V1ContainerStateRunning(),
    )
    status = client.V1ContainerStatus(
        name=MAIN_CONTAINER, image=image, image_id="", ready=not waiting, restart_count=0, state=state
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="flow-files-flow-root"),
        spec=client.V1PodSpec(containers=[client.V1Container(name=MAIN_CONTAINER, image=image)]),
        status=client.V1PodStatus(phase=phase, container_statuses=[status]),
    )


@pytest.mark.parametrize(
    ("pod", "replaced"),
    [
        (helper_pod(IMAGE, "Running"), False),
        (helper_pod(IMAGE, "Succeeded"), True),  # ended itself when idle
        (helper_pod("flow-test/python:3.11", "Running"), True),  # an engine with another image map made it
        (helper_pod("busybox:1.36", "Pending", waiting="ErrImageNeverPull"), True),
        (helper_pod(IMAGE, "Pending", waiting="ImagePullBackOff"), True),
        (helper_pod(IMAGE, "Pending", waiting="CreateContainerError"), True),
        (helper_pod(IMAGE, "Pending", waiting="ContainerCreating"), False),  # starting: waited for
    ],
)
def test_a_helper_pod_that_cannot_serve_is_replaced(pod: client.V1Pod, replaced: bool) -> None:
    helper = HelperPod(client.CoreV1Api(), SETTINGS, IMAGE)
    assert helper._replaced(pod) is replaced
