"""Which existing volume helper pod an engine replaces instead of reusing, and engines replacing it at the
same moment (the real cluster: tests/e2e/test_k8s.py, test_a_volume_helper_that_cannot_serve_is_replaced and
test_engines_starting_together_all_replace_a_helper_that_cannot_serve)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

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


class SharedCluster:
    """The pod API as several engines see it at once. `between[call]` holds what other engines do just before
    this engine's next calls of that name, one step per call, so that a race's interleaving is fixed."""

    def __init__(self, pod: client.V1Pod | None) -> None:
        self.pod = pod
        self.uids = 0
        self.between: dict[str, list[Callable[[], None]]] = {}
        self.deleted: list[str] = []

    def _step(self, call: str) -> None:
        steps = self.between.get(call)
        if steps:
            steps.pop(0)()

    def make(self, image: str) -> None:
        self.uids += 1
        self.pod = helper_pod(image, "Running")
        self.pod.metadata.uid = f"uid-{self.uids}"

    def read_namespaced_pod(self, name: str, namespace: str) -> client.V1Pod:
        self._step("read")
        if self.pod is None:
            raise ApiException(status=404, reason="Not Found")
        return self.pod

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> None:
        self._step("create")
        if self.pod is not None:
            raise ApiException(status=409, reason="Conflict")
        self.make(body["spec"]["containers"][0]["image"])

    def delete_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self._step("delete")
        if self.pod is None:
            raise ApiException(status=404, reason="Not Found")
        if self.pod.metadata.uid != body["preconditions"]["uid"]:
            raise ApiException(status=409, reason="Conflict")
        self.deleted.append(self.pod.metadata.uid)
        self.pod = None


def stale_cluster() -> SharedCluster:
    cluster = SharedCluster(None)
    cluster.make("flow-test/python:3.11")  # uid-1, running another image: to be replaced
    return cluster


def test_a_helper_another_engine_removed_first_is_made_again() -> None:
    cluster = stale_cluster()
    cluster.between["delete"] = [lambda: setattr(cluster, "pod", None)]
    assert HelperPod(cluster, SETTINGS, IMAGE).ensure() == "flow-files-flow-root"  # type: ignore[arg-type]
    assert cluster.pod is not None and cluster.pod.metadata.uid == "uid-2"
    assert [c.image for c in cluster.pod.spec.containers] == [IMAGE]


def test_the_helper_another_engine_made_in_its_place_is_not_deleted() -> None:
    cluster = stale_cluster()
    cluster.between["delete"] = [lambda: cluster.make(IMAGE)]  # uid-1 replaced by the other engine's uid-2
    HelperPod(cluster, SETTINGS, IMAGE).ensure()  # type: ignore[arg-type]
    assert cluster.deleted == []
    assert cluster.pod is not None and cluster.pod.metadata.uid == "uid-2"


def test_a_helper_that_goes_while_waited_for_is_made_again() -> None:
    cluster = SharedCluster(None)
    # Made by this engine, then deleted by another one before it was seen running.
    cluster.between["read"] = [lambda: None, lambda: setattr(cluster, "pod", None)]
    calls: list[str] = []
    real_create = cluster.create_namespaced_pod

    def create(namespace: str, body: dict[str, Any]) -> None:
        calls.append("create")
        real_create(namespace, body)

    cluster.create_namespaced_pod = create  # type: ignore[method-assign]
    HelperPod(cluster, SETTINGS, IMAGE).ensure()  # type: ignore[arg-type]
    assert calls == ["create", "create"]
    assert cluster.pod is not None and cluster.pod.metadata.uid == "uid-2"
