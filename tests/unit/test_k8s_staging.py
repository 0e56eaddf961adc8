"""The pod of a task whose root is in S3: its files staged in and out inside the pod, and what the staging
containers' failures mean for the task."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1Pod,
    V1PodStatus,
)

from backends.base import PermanentBackendError, Phase, TaskSpec
from backends.k8s.pods import PodSettings, pod_manifest
from backends.k8s.status import task_status
from roots.s3 import S3Root
from roots.s3.pods import MARKER, StagingSettings, add_staging

SETTINGS = PodSettings(namespace="team", claim="flow-root", pull_policy="Never")
ROOT = S3Root.parse("s3://bucket/runs")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def staged_pod(settings: StagingSettings, command: tuple[str, ...] = ("python3", "-c")) -> dict[str, Any]:
    task = TaskSpec(
        run_id="r1",
        task_path="train",
        attempt=1,
        name="flow-r1-train-1",
        image="python:3.11",
        command=command,
        args=["print(1)"],
        env={"MODE": "fast"},
        root_inputs=("r1/prep/table",),
        root_outputs="r1/train",
    )
    manifest = pod_manifest(task, "python:3.11", SETTINGS)
    add_staging(manifest, task, ROOT, settings, "Never", non_root=False)
    return manifest


def test_the_pod_stages_in_runs_the_command_wrapped_and_stages_out_without_the_claim() -> None:
    pod = staged_pod(StagingSettings("flow:dev", "busybox:1", env={"AWS_ACCESS_KEY_ID": "k"}))["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["flow-s3", "flow-tools"]
    assert [c["name"] for c in pod["initContainers"]] == ["flow-tools", "stage-in"]
    main, stage_out = pod["containers"]
    assert main["command"][:3] == ["/flow-tools/busybox", "sh", "-c"]
    assert main["command"][4:] == ["flow-task", "python3", "-c", "print(1)"] and "args" not in main
    assert MARKER in main["command"][3]
    assert {m["mountPath"] for m in main["volumeMounts"]} == {"/s3", "/flow-tools"}
    assert main["env"] == [{"name": "MODE", "value": "fast"}]  # no keys for the task
    assert stage_out["name"] == "stage-out" and stage_out["image"] == "flow:dev"
    plan = json.loads(stage_out["command"][-1])
    assert plan == {
        "bucket": "bucket",
        "prefix": "runs",
        "inputs": ["r1/prep/table"],
        "outputs": "r1/train",
        "marker": MARKER,
    }
    stage_in = pod["initContainers"][1]
    assert stage_in["command"][-2:] == ["in", stage_out["command"][-1]]
    assert stage_in["env"] == [{"name": "AWS_ACCESS_KEY_ID", "value": "k"}] and "envFrom" not in stage_in


def test_a_secret_gives_the_staging_containers_their_keys_and_nothing_is_copied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-shell")
    settings = StagingSettings.from_environment("flow:dev", "busybox:1", secret="s3-keys")
    pod = staged_pod(settings)["spec"]
    stagers = [pod["initContainers"][1], pod["containers"][1]]
    assert all(c["envFrom"] == [{"secretRef": {"name": "s3-keys"}}] and c["env"] == [] for c in stagers)
    without = StagingSettings.from_environment("flow:dev", "busybox:1", secret=None)
    assert without.env["AWS_SECRET_ACCESS_KEY"] == "from-the-shell"


def test_a_task_without_inputs_has_no_stage_in_and_its_output_folder_is_made_open() -> None:
    manifest = staged_pod(StagingSettings("flow:dev", "busybox:1"))
    tools_command = manifest["spec"]["initContainers"][0]["command"]
    assert tools_command[-1] == "/s3/bucket/runs/r1/train"
    task = TaskSpec(
        run_id="r1", task_path="t", attempt=1, name="t-1", image="i", command=["true"], root_outputs="r1/t"
    )
    pod = pod_manifest(task, "i", SETTINGS)
    add_staging(pod, task, ROOT, StagingSettings("flow:dev", "busybox:1"), "Never", non_root=True)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["flow-tools"]


def test_a_component_without_a_command_cannot_be_wrapped() -> None:
    with pytest.raises(PermanentBackendError, match="needs a command"):
        staged_pod(StagingSettings("flow:dev", "busybox:1"), command=())


def status(name: str, state: V1ContainerState) -> V1ContainerStatus:
    return V1ContainerStatus(name=name, image="i", image_id="", ready=False, restart_count=0, state=state)


def ended(code: int, message: str | None = None) -> V1ContainerState:
    return V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=code, message=message))


def test_a_failed_upload_fails_a_task_that_exited_0_and_a_failed_download_one_that_never_started() -> None:
    upload_failed = V1Pod(
        metadata=V1ObjectMeta(name="p", creation_timestamp=NOW),
        status=V1PodStatus(
            phase="Failed",
            container_statuses=[
                status("main", ended(0)),
                status("stage-out", ended(1, "staging out: denied")),
            ],
        ),
    )
    outcome = task_status(upload_failed, NOW, 60)
    assert outcome.phase == Phase.FAILED and outcome.message == "stage-out: staging out: denied"

    waiting = V1ContainerState(waiting=V1ContainerStateWaiting(reason="PodInitializing"))
    download_failed = V1Pod(
        metadata=V1ObjectMeta(name="p", creation_timestamp=NOW),
        status=V1PodStatus(
            phase="Failed",
            init_container_statuses=[status("flow-tools", ended(0)), status("stage-in", ended(1, "missing"))],
            container_statuses=[status("main", waiting), status("stage-out", waiting)],
        ),
    )
    outcome = task_status(download_failed, NOW, 60)
    assert outcome.phase == Phase.FAILED and outcome.message == "stage-in: missing"

    task_failed = V1Pod(
        metadata=V1ObjectMeta(name="p", creation_timestamp=NOW),
        status=V1PodStatus(
            phase="Failed",
            container_statuses=[status("main", ended(3)), status("stage-out", ended(0))],
        ),
    )
    assert task_status(task_failed, NOW, 60).message == "exited with code 3"
