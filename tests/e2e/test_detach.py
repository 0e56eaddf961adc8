"""Detached runs on the real cluster: `flow run --cluster --detach` starts a driver Job (the flow image that
scripts/build-flow-image.sh builds) which runs the engine in the cluster, with the store on the real
PostgreSQL; the CLI has exited by then, and other "machines" (other FLOW_HOMEs) follow the run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from starlette.testclient import TestClient

from backends.k8s import DEFAULT_FILES_IMAGE, KubernetesBackend
from backends.k8s.driver import LABEL_DRIVER_OF, driver_name
from roots import kinds
from runner.testing.shellsteps import Step, pipeline
from runner.ui.app import create_app
from tests.conftest import (
    IMAGE_MAP_ARGS,
    IN_CI,
    TEST_BUSYBOX_IMAGE,
    TEST_NAMESPACE,
    cluster_options,
    flow_kubeconfig,
    require_cluster,
)

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 120
ROOT = f"pvc://{TEST_NAMESPACE}/flow-root"
# Each task that runs appends a line to a file of its own in the root: the count of runs, whoever ran it.
COUNTED = 'echo ran >> "{{$.pipeline_root}}/runs-{{$.pipeline_job_uuid}}-%s"; '
# Holds a task running until the test writes its run's release file into the root.
HELD = (
    'while [ ! -f "{{$.pipeline_root}}/release-{{$.pipeline_job_uuid}}" ]; do sleep 0.2; done; '
    "echo released; for i in 1 2 3; do echo line $i; sleep 0.2; done"
)
CLUSTER_ARGS = [
    "--cluster",
    "--namespace",
    TEST_NAMESPACE,
    "--pull",
    "never",
    *IMAGE_MAP_ARGS,
    "--image-map",
    f"{DEFAULT_FILES_IMAGE}={TEST_BUSYBOX_IMAGE}",
]


@pytest.fixture(scope="session")
def flow_image() -> None:
    """The flow image built from this source tree (seconds when it is current already)."""
    require_cluster()
    built = subprocess.run(
        ["bash", str(REPO / "scripts/build-flow-image.sh")], capture_output=True, text=True, timeout=1800
    )
    if built.returncode != 0:
        message = f"scripts/build-flow-image.sh failed: {built.stderr.strip().splitlines()[-1:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def machine(tmp_path: Path, postgres_store_url: str) -> Iterator[Any]:
    """A factory of "machines": environments with their own FLOW_HOME and the shared store."""

    def make(name: str) -> dict[str, str]:
        home = tmp_path / name
        (home / "config" / "flow").mkdir(parents=True)
        # The volume helper's image, for reading logs off the volume (flow logs has no --image-map): in
        # the user's config file, as each machine's user would write it.
        (home / "config" / "flow" / "config.yaml").write_text(
            f"image_map:\n  {DEFAULT_FILES_IMAGE}: {TEST_BUSYBOX_IMAGE}\npull: never\n"
        )
        return {
            **os.environ,
            "KUBECONFIG": flow_kubeconfig() or "",
            "FLOW_HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "FLOW_STORE": postgres_store_url,
        }

    yield make


@pytest.fixture
def volume() -> Iterator[Any]:
    backend = KubernetesBackend(**cluster_options())
    yield kinds.view(backend, ROOT).files()
    backend.close()


def flow(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "runner.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def show(run_id: str, env: dict[str, str]) -> dict[str, Any]:
    shown = flow(["show", run_id, "-o", "json"], env)
    assert shown.returncode == 0, shown.stderr
    result: dict[str, Any] = json.loads(shown.stdout)
    return result


def task(shown: dict[str, Any], path: str) -> dict[str, Any]:
    return next((t for t in shown["tasks"] if t["path"] == path), {})


def wait_for(what: str, check: Any, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {seconds} s")


def core_api() -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=flow_kubeconfig()))


def driver_pods(core: client.CoreV1Api, run_id: str) -> list[Any]:
    selector = f"{LABEL_DRIVER_OF}={run_id}"
    return list(core.list_namespaced_pod(TEST_NAMESPACE, label_selector=selector).items)


def running_driver(core: client.CoreV1Api, run_id: str, other_than: str = "") -> str:
    for pod in driver_pods(core, run_id):
        if (
            pod.metadata.name != other_than
            and pod.status.phase == "Running"
            and not pod.metadata.deletion_timestamp
        ):
            return str(pod.metadata.name)
    return ""


def remove_job(run_id: str) -> None:
    batch = client.BatchV1Api(config.new_client_from_config(config_file=flow_kubeconfig()))
    try:
        batch.delete_namespaced_job(driver_name(run_id), TEST_NAMESPACE, propagation_policy="Background")
    except client.exceptions.ApiException as exc:
        if exc.status != 404:
            raise


def detach(ir: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return flow(["run", str(ir), "--detach", "--no-cache", *CLUSTER_ARGS, *extra], env)


def test_a_detached_run_survives_the_cli_exiting_and_its_driver_pod_being_deleted(
    flow_image: None, machine: Any, volume: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    laptop, other = machine("laptop"), machine("other")
    ir = tmp_path / "detached.yaml"
    steps = {
        "first": Step(COUNTED % "first" + "echo first"),
        "held": Step(COUNTED % "held" + HELD, after=("first",)),
        "last": Step(COUNTED % "last" + "echo last", after=("held",)),
    }
    ir.write_text(pipeline(steps))
    started = detach(ir, laptop)  # returns: the CLI process has exited
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    assert len(started.stdout.splitlines()) == 1 and run_id, started.stdout
    core = core_api()
    try:
        wait_for("held running", lambda: task(show(run_id, other), "held").get("state") == "RUNNING")
        # The driver wrote that from its pod, but the kubelet may not have reported the pod Running yet.
        first_driver = wait_for("the driver pod running", lambda: running_driver(core, run_id))
        core.delete_namespaced_pod(first_driver, TEST_NAMESPACE)
        wait_for("a new driver", lambda: running_driver(core, run_id, other_than=first_driver))
        assert show(run_id, other)["state"] == "RUNNING"

        follower = subprocess.Popen(
            [sys.executable, "-m", "runner.cli.main", "logs", run_id, "held", "-f"],
            env=other,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        volume.write(f"release-{run_id}", b"")
        out, err = follower.communicate(timeout=WAIT_SECONDS)
        assert follower.returncode == 0, err
        assert out.splitlines()[-4:] == ["released", "line 1", "line 2", "line 3"], out

        wait_for("the run's end", lambda: show(run_id, other)["state"] in ("SUCCEEDED", "FAILED"))
        shown = show(run_id, other)
        assert shown["state"] == "SUCCEEDED", shown["error"]
        counts = volume.read([f"runs-{run_id}-{name}" for name in steps])
        runs = {name: counts.get(f"runs-{run_id}-{name}", b"").decode().count("ran") for name in steps}
        assert runs == {"first": 1, "held": 1, "last": 1}, runs
        assert [task(shown, name)["attempts"] for name in steps] == [1, 1, 1]
        assert "last" in flow(["logs", run_id, "last"], other).stdout
        listed = flow(["runs"], other)
        assert run_id in listed.stdout and "SUCCEEDED" in listed.stdout
        for name in ("FLOW_HOME", "FLOW_STORE", "KUBECONFIG", "XDG_CONFIG_HOME"):
            monkeypatch.setenv(name, other[name])
        with TestClient(create_app(), base_url="http://127.0.0.1") as ui:
            runs = ui.get("/api/runs").json()["runs"]
            assert [run["state"] for run in runs if run["run_id"] == run_id] == ["SUCCEEDED"]
            log = ui.get(f"/api/runs/{run_id}/logs/held")
            assert log.status_code == 200 and "released" in log.text, log.text
    finally:
        remove_job(run_id)
        volume.reset(f"release-{run_id}", create=False)


def test_flow_cancel_of_a_detached_run_stops_its_driver_and_its_pods(
    flow_image: None, machine: Any, volume: Any, tmp_path: Path
) -> None:
    laptop, other = machine("laptop"), machine("other")
    ir = tmp_path / "forever.yaml"
    ir.write_text(pipeline({"held": Step(HELD)}))
    started = detach(ir, laptop)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    core = core_api()
    try:
        wait_for("held running", lambda: task(show(run_id, other), "held").get("state") == "RUNNING")
        resumed = flow(["resume", run_id], other)
        assert resumed.returncode == 2 and "runs in the cluster" in resumed.stderr, resumed.stderr
        cancelled = flow(["cancel", run_id], other)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "CANCELLED" in cancelled.stdout
        shown = show(run_id, other)
        assert shown["state"] == "CANCELLED" and task(shown, "held")["state"] == "CANCELLED"
        wait_for("no driver pod", lambda: not driver_pods(core, run_id), seconds=30)
        tasks_left = core.list_namespaced_pod(TEST_NAMESPACE, label_selector=f"flow.run={run_id}").items
        assert not tasks_left
    finally:
        remove_job(run_id)


def test_a_detached_run_whose_job_was_deleted_by_hand_is_resumed_from_a_laptop(
    flow_image: None, machine: Any, volume: Any, tmp_path: Path
) -> None:
    """The driver's process id is recorded with its pod's host name: with the Job gone, nothing of the
    driver is left, and the run is taken back (not refused as "still running" because a process 1 exists
    here)."""
    laptop = machine("laptop")
    ir = tmp_path / "orphan.yaml"
    ir.write_text(
        pipeline({"held": Step(COUNTED % "held" + HELD), "last": Step("echo last", after=("held",))})
    )
    started = detach(ir, laptop)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    core = core_api()
    try:
        wait_for("held running", lambda: task(show(run_id, laptop), "held").get("state") == "RUNNING")
        assert show(run_id, laptop)["state"] == "RUNNING"
        remove_job(run_id)
        # A pod the Job controller made while the Job was going is removed by the cluster's garbage collector,
        # but the kubelet lets it go only after it gives up mounting its volumes, two minutes at worst.
        wait_for("no driver pod", lambda: not driver_pods(core, run_id), seconds=180)
        volume.write(f"release-{run_id}", b"")
        resumed = flow(["resume", run_id, *CLUSTER_ARGS[1:]], laptop)  # its options, but for --cluster
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        shown = show(run_id, laptop)
        assert shown["state"] == "SUCCEEDED", shown["error"]
        assert task(shown, "last")["state"] == "SUCCEEDED"
    finally:
        remove_job(run_id)
        volume.reset(f"release-{run_id}", create=False)


def test_a_driver_image_the_cluster_lacks_is_a_one_line_error_and_leaves_nothing(
    flow_image: None, machine: Any, tmp_path: Path
) -> None:
    laptop = machine("laptop")
    ir = tmp_path / "one.yaml"
    ir.write_text(pipeline({"one": Step("echo one")}))
    started = detach(ir, laptop, "--driver-image", "flow-local/no-such-flow:1")
    assert started.returncode == 2
    assert started.stdout == ""
    error = started.stderr.strip()
    assert len(error.splitlines()) == 1 and "flow-local/no-such-flow:1" in error and "--driver-image" in error
    runs = flow(["runs"], laptop).stdout.split("\n")
    run_id = next(line.split()[0] for line in runs if "shell-steps" in line)
    assert show(run_id, laptop)["state"] == "FAILED"
    core = core_api()
    assert not driver_pods(core, run_id)
    batch = client.BatchV1Api(config.new_client_from_config(config_file=flow_kubeconfig()))
    with pytest.raises(client.exceptions.ApiException) as gone:
        batch.read_namespaced_job(driver_name(run_id), TEST_NAMESPACE)
    assert gone.value.status == 404


def test_a_store_the_driver_cannot_reach_is_a_one_line_error_with_the_driver_s_last_words(
    flow_image: None, machine: Any, tmp_path: Path
) -> None:
    """The store's password comes from this machine's environment (PGPASSWORD), which the driver has not."""
    laptop = machine("laptop")
    parts = urllib.parse.urlsplit(laptop["FLOW_STORE"])
    assert parts.password, "the test store's URL carries its password"
    laptop["PGPASSWORD"] = parts.password
    laptop["FLOW_STORE"] = parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}").geturl()
    ir = tmp_path / "one.yaml"
    ir.write_text(pipeline({"one": Step("echo one")}))
    started = detach(ir, laptop)
    assert started.returncode == 2 and started.stdout == ""
    error = started.stderr.strip()
    assert len(error.splitlines()) == 1 and "the driver failed" in error, error
    assert "password" in error, error
    named = re.search(r"run (\w+): the driver failed", error)
    assert named, error
    run_id = named.group(1)
    assert show(run_id, laptop)["state"] == "FAILED"
    assert not driver_pods(core_api(), run_id)
