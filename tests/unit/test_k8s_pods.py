"""The pod manifest a task becomes on Kubernetes, and what pod statuses mean for the task."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodStatus,
)

from backends.base import (
    REASON_ERROR,
    REASON_EVICTED,
    REASON_IMAGE,
    REASON_OOM,
    REASON_TIMEOUT,
    REASON_UNSCHEDULABLE,
    PermanentBackendError,
    Phase,
    Resources,
    TaskSpec,
)
from backends.k8s.pods import PodSettings, label_value, pod_manifest
from backends.k8s.status import task_status
from roots.pvc import ClaimRoot

SETTINGS = PodSettings(namespace="team", claim="flow-root", pull_policy="Never", service_account="runner")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def spec(**changes: Any) -> TaskSpec:
    fields: dict[str, Any] = {
        "run_id": "ab12cd34",
        "task_path": "for-loop-2/1/train",
        "attempt": 2,
        "name": "flow-ab12cd34-for-loop-2-1-train-2",
        "image": "python:3.11",
        "command": ["python3", "-c"],
        "args": ["print(1)"],
        "env": {"MODE": "fast"},
    }
    fields.update(changes)
    return TaskSpec(**fields)


def test_a_task_becomes_a_pod_with_the_volume_at_flow_and_no_cluster_credentials() -> None:
    task = spec()
    manifest = pod_manifest(task, "local/python:3.11", SETTINGS)
    cluster = SimpleNamespace(
        namespace="team", claim="flow-root"
    )  # all the claim's view reads of its backend
    ClaimRoot.parse("pvc://team/flow-root").in_pods("k8s", cluster).add_to_pod(manifest, task)  # type: ignore[arg-type]
    pod, container = manifest["spec"], manifest["spec"]["containers"][0]
    assert manifest["metadata"]["name"] == "flow-ab12cd34-for-loop-2-1-train-2"
    assert manifest["metadata"]["namespace"] == "team"
    assert manifest["metadata"]["labels"] == {
        "flow.managed": "1",
        "flow.run": "ab12cd34",
        "flow.task": "for-loop-2-1-train",
        "flow.attempt": "2",
    }
    assert manifest["metadata"]["annotations"]["flow.task-path"] == "for-loop-2/1/train"
    assert container["image"] == "local/python:3.11" and container["imagePullPolicy"] == "Never"
    assert container["command"] == ["python3", "-c"] and container["args"] == ["print(1)"]
    assert container["env"] == [{"name": "MODE", "value": "fast"}]
    assert container["volumeMounts"] == [{"name": "flow-root", "mountPath": "/flow"}]
    assert pod["volumes"] == [{"name": "flow-root", "persistentVolumeClaim": {"claimName": "flow-root"}}]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "runner"
    assert "activeDeadlineSeconds" not in pod and "resources" not in container


def test_run_as_non_root_makes_the_kubelet_refuse_root_and_no_pod_is_privileged() -> None:
    plain = pod_manifest(spec(), "img", SETTINGS)["spec"]
    assert "securityContext" not in plain  # the image's user, as on Docker
    settings = dataclasses.replace(SETTINGS, run_as_non_root=True)
    pod = pod_manifest(spec(), "img", settings)["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534}
    for manifest in (plain, pod):
        assert all(not (c.get("securityContext") or {}).get("privileged") for c in manifest["containers"])


def test_resources_and_deadline_become_requests_limits_and_active_deadline() -> None:
    resources = Resources(cpu_limit=1.5, memory_limit=512 * 2**20, cpu_request=0.25, accelerator_count=1)
    manifest = pod_manifest(spec(resources=resources, timeout=90.5), "img", SETTINGS)
    assert manifest["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1500m", "memory": str(512 * 2**20), "nvidia.com/gpu": "1"},
        "requests": {"cpu": "250m"},
    }
    assert manifest["spec"]["activeDeadlineSeconds"] == 91


def test_the_kfp_kubernetes_executor_config_is_honoured() -> None:
    config = {
        "secretAsEnv": [
            {"secretName": "db", "keyToEnv": [{"secretKey": "password", "envVar": "DB_PASSWORD"}]}
        ],
        "secretAsVolume": [{"secretName": "certs", "mountPath": "/certs", "optional": True}],
        "configMapAsEnv": [
            {"configMapName": "cfg", "keyToEnv": [{"configMapKey": "level", "envVar": "LEVEL"}]}
        ],
        "configMapAsVolume": [{"configMapName": "cfg", "mountPath": "/cfg"}],
        "pvcMount": [{"constant": "datasets", "mountPath": "/data"}],
        "nodeSelector": {"labels": {"disk": "ssd"}},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "imagePullSecret": [{"secretName": "regcred"}],
        "imagePullPolicy": "Always",
        "podMetadata": {"labels": {"team": "ml"}, "annotations": {"owner": "me"}},
    }
    manifest = pod_manifest(spec(kubernetes=config), "img", SETTINGS)
    pod, container = manifest["spec"], manifest["spec"]["containers"][0]
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in (
        container["env"]
    )
    assert {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}} in container[
        "env"
    ]
    mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounted["/certs"]]["secret"] == {"secretName": "certs", "optional": True}
    assert volumes[mounted["/cfg"]]["configMap"] == {"name": "cfg"}
    assert volumes[mounted["/data"]]["persistentVolumeClaim"] == {"claimName": "datasets"}
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert container["imagePullPolicy"] == "Always"
    assert manifest["metadata"]["labels"]["team"] == "ml"
    assert manifest["metadata"]["annotations"]["owner"] == "me"


def test_a_claim_named_by_a_runtime_parameter_is_refused_with_the_reason() -> None:
    config = {"pvcMount": [{"taskOutputParameter": {"producerTask": "make"}, "mountPath": "/data"}]}
    with pytest.raises(PermanentBackendError, match=r"/data.*constant"):
        pod_manifest(spec(kubernetes=config), "img", SETTINGS)


def test_label_values_are_made_valid() -> None:
    assert label_value("outer/for-loop-2/1/inner") == "outer-for-loop-2-1-inner"
    assert len(label_value("x" * 100)) == 63
    assert label_value("-a/b-") == "a-b"


def test_the_root_of_a_cluster_run_names_namespace_and_claim() -> None:
    assert ClaimRoot.parse("pvc://team/flow-root") == ClaimRoot("team", "flow-root")
    for bad in ("/tmp/root", "pvc://team", "pvc://team/a/b"):
        with pytest.raises(PermanentBackendError, match="pvc://NAMESPACE/CLAIM"):
            ClaimRoot.parse(bad)


# -- statuses ---------------------------------------------------------------------------------------


def pod(
    phase: str,
    state: V1ContainerState | None = None,
    *,
    reason: str | None = None,
    message: str | None = None,
    conditions: list[V1PodCondition] | None = None,
    age: float = 1.0,
) -> V1Pod:
    statuses = [
        V1ContainerStatus(name="main", image="img:1", image_id="", ready=False, restart_count=0, state=state)
    ]
    return V1Pod(
        metadata=V1ObjectMeta(name="p", creation_timestamp=NOW - timedelta(seconds=age)),
        status=V1PodStatus(
            phase=phase,
            reason=reason,
            message=message,
            conditions=conditions,
            container_statuses=statuses if state is not None else None,
        ),
    )


def terminated(code: int, reason: str = "Completed") -> V1ContainerState:
    return V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=code, reason=reason))


def waiting(reason: str, message: str = "") -> V1ContainerState:
    return V1ContainerState(waiting=V1ContainerStateWaiting(reason=reason, message=message))


def test_statuses_of_pods_that_run_and_finish() -> None:
    assert task_status(pod("Pending"), NOW, 60).phase == Phase.PENDING
    running = V1ContainerState(running=V1ContainerStateRunning())
    assert task_status(pod("Running", running), NOW, 60).phase == Phase.RUNNING
    assert task_status(pod("Succeeded", terminated(0)), NOW, 60).phase == Phase.SUCCEEDED
    failed = task_status(pod("Failed", terminated(3, "Error")), NOW, 60)
    assert (failed.phase, failed.exit_code, failed.reason) == (Phase.FAILED, 3, REASON_ERROR)
    assert "exited with code 3" in failed.message


@pytest.mark.parametrize(
    "reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]
)
def test_an_image_that_cannot_be_pulled_fails_at_once_with_the_reason(reason: str) -> None:
    status = task_status(pod("Pending", waiting(reason, "not found")), NOW, 60)
    assert status.phase == Phase.FAILED and status.reason == REASON_IMAGE
    assert "img:1" in status.message and reason in status.message and "not found" in status.message


def test_oom_deadline_eviction_and_a_missing_secret_are_named() -> None:
    oom = task_status(pod("Failed", terminated(137, "OOMKilled")), NOW, 60)
    assert oom.reason == REASON_OOM and oom.exit_code == 137
    deadline = task_status(
        pod("Failed", reason="DeadlineExceeded", message="Pod was active too long"), NOW, 60
    )
    assert deadline.reason == REASON_TIMEOUT and "too long" in deadline.message
    evicted = task_status(pod("Failed", reason="Evicted", message="low on memory"), NOW, 60)
    assert evicted.reason == REASON_EVICTED and evicted.message == "low on memory"
    config = task_status(
        pod("Pending", waiting("CreateContainerConfigError", 'secret "db" not found')), NOW, 60
    )
    assert config.phase == Phase.FAILED and 'secret "db" not found' in config.message


def test_a_kubelet_still_syncing_its_secret_cache_is_waited_for_as_long_as_scheduling() -> None:
    message = "failed to sync secret cache: timed out waiting for the condition"
    early = task_status(pod("Pending", waiting("CreateContainerConfigError", message), age=10), NOW, 60)
    assert early.phase == Phase.PENDING
    late = task_status(pod("Pending", waiting("CreateContainerConfigError", message), age=61), NOW, 60)
    assert late.phase == Phase.FAILED and message in late.message


def test_an_unschedulable_pod_fails_only_after_the_wait() -> None:
    condition = V1PodCondition(
        type="PodScheduled", status="False", reason="Unschedulable", message="0/1 nodes match node selector"
    )
    early = task_status(pod("Pending", conditions=[condition], age=10), NOW, 60)
    assert early.phase == Phase.PENDING
    late = task_status(pod("Pending", conditions=[condition], age=61), NOW, 60)
    assert late.phase == Phase.FAILED and late.reason == REASON_UNSCHEDULABLE
    assert "node selector" in late.message
