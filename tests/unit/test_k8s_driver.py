"""The driver Job of a detached run, as manifests (no cluster): what it runs, as whom, and where the store's
URL goes (a Secret, never the pod spec)."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from backends.k8s.driver import (
    DRIVER_HOME,
    LABEL_DRIVER_OF,
    DriverSpec,
    driver_name,
    job_manifest,
    owner_reference,
    problem_of,
    secret_manifest,
)
from backends.k8s.pods import LABEL_RUN
from runner.runs.detach import DriverOptions, driver_command
from runner.store import RunRecord
from runner.tasklogs import on_volume

STORE_URL = "postgresql://flow:s3cret-pw@db.example:5432/flow"


def spec(**changes: Any) -> DriverSpec:
    backend_options = {"namespace": "team", "pvc": "data", "image_map": {"a": "b"}, "context": "laptop"}
    values: dict[str, Any] = {
        "run_id": "ab12cd34",
        "namespace": "team",
        "claim": "data",
        "image": "registry.example/flow:0.1.0",
        "command": driver_command("ab12cd34", backend_options, DriverOptions(parallelism=3)),
        **changes,
    }
    return DriverSpec(**values)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = job["spec"]["template"]["spec"]
    return result


def test_the_store_url_reaches_the_driver_through_its_secret_only() -> None:
    job = job_manifest(spec())
    assert "s3cret-pw" not in json.dumps(job)
    env = {item["name"]: item for item in pod_spec(job)["containers"][0]["env"]}
    assert env["FLOW_STORE"]["valueFrom"]["secretKeyRef"] == {
        "name": "flow-driver-ab12cd34",
        "key": "FLOW_STORE",
    }
    secret = secret_manifest(spec(), STORE_URL)
    assert secret["metadata"]["name"] == "flow-driver-ab12cd34"
    assert secret["stringData"] == {"FLOW_STORE": STORE_URL}


def test_the_driver_runs_flow_driver_in_the_cluster_as_the_runner_account_with_the_root_mounted() -> None:
    job = job_manifest(spec())
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["namespace"] == "team"
    assert job["spec"]["backoffLimit"] >= 1
    pod = pod_spec(job)
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "flow-runner" and pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == "registry.example/flow:0.1.0"
    command = container["command"]
    assert command[:3] == ["flow", "driver", "ab12cd34"] and command[3] == "--settings"
    settings = json.loads(command[4])
    assert settings["parallelism"] == 3 and settings["cache"] is True
    # The laptop's kubeconfig context means nothing in the cluster; the rest reaches the driver.
    assert settings["backend"] == {"namespace": "team", "pvc": "data", "image_map": {"a": "b"}}
    assert pod["volumes"] == [{"name": "flow-root", "persistentVolumeClaim": {"claimName": "data"}}]
    assert container["volumeMounts"] == [{"name": "flow-root", "mountPath": "/flow"}]
    home = next(item["value"] for item in container["env"] if item["name"] == "FLOW_HOME")
    assert home == DRIVER_HOME and home.startswith("/flow/")


def test_the_driver_pod_is_not_labelled_as_a_task_of_the_run() -> None:
    """A run's cleanup deletes its pods by the run label: the driver must not be one of them."""
    labels = job_manifest(spec())["spec"]["template"]["metadata"]["labels"]
    assert LABEL_RUN not in labels and labels[LABEL_DRIVER_OF] == "ab12cd34"


def test_driver_names_are_valid_object_names() -> None:
    name = driver_name("Run_With.Odd-" + "x" * 80)
    assert len(name) <= 63 and name == name.lower() and name[-1].isalnum()


def test_the_secret_is_owned_by_the_job() -> None:
    job = client.V1Job(metadata=client.V1ObjectMeta(name="flow-driver-ab12cd34", uid="u-1"))
    owner = owner_reference(job)
    assert owner["kind"] == "Job" and owner["uid"] == "u-1" and owner["name"] == "flow-driver-ab12cd34"


def waiting_pod(reason: str) -> client.V1Pod:
    state = client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason=reason, message="no"))
    status = client.V1ContainerStatus(
        name="main", image="flow-local/none:1", image_id="", ready=False, restart_count=0, state=state
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="flow-driver-x"),
        status=client.V1PodStatus(phase="Pending", container_statuses=[status]),
    )


def test_a_driver_image_the_cluster_cannot_get_is_an_error_naming_it() -> None:
    problem = problem_of(waiting_pod("ErrImageNeverPull"), "flow-local/none:1", lambda: "")
    assert "flow-local/none:1" in problem and "--driver-image" in problem


def test_a_driver_still_being_created_has_no_problem_yet() -> None:
    assert problem_of(waiting_pod("ContainerCreating"), "flow-local/flow:dev", lambda: "unused") == ""


def test_a_failed_driver_is_reported_with_the_last_line_it_wrote() -> None:
    terminated = client.V1ContainerStateTerminated(exit_code=1, reason="Error")
    status = client.V1ContainerStatus(
        name="main",
        image="flow-local/flow:dev",
        image_id="",
        ready=False,
        restart_count=0,
        state=client.V1ContainerState(terminated=terminated),
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="flow-driver-x"),
        status=client.V1PodStatus(phase="Failed", container_statuses=[status]),
    )
    problem = problem_of(pod, "flow-local/flow:dev", lambda: "error: cannot reach the store")
    assert problem == "the driver failed: error: cannot reach the store"


def test_logs_a_driver_wrote_on_the_volume_are_read_there() -> None:
    cluster = RunRecord(run_id="r", pipeline="p", pipeline_file="", backend="k8s", root="pvc://ns/data")
    local = RunRecord(run_id="r", pipeline="p", pipeline_file="", backend="process", root="/tmp/root")
    log = f"{DRIVER_HOME}/logs/r/train/attempt-1.log"
    assert on_volume(cluster, log) == ".flow-driver/logs/r/train/attempt-1.log"
    assert on_volume(cluster, "/home/me/.local/share/flow/logs/r/train/attempt-1.log") is None
    assert on_volume(local, log) is None
