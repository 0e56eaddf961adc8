"""The Kubernetes backend against a real cluster: what only a cluster does (pull failures, scheduling,
secrets, pods deleted from outside) and the `flow` CLI with `--cluster`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from backends.base import REASON_IMAGE, REASON_LOST, REASON_OOM, REASON_UNSCHEDULABLE, BackendError
from backends.k8s import DEFAULT_FILES_IMAGE, KubernetesBackend
from backends.k8s.volume import HelperPod, helper_name
from roots import kinds
from runner.store import RunRecord, RunState, SQLiteStore
from runner.testing.conformance import WIRING
from runner.testing.session import FlowSession
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline
from tests.conftest import (
    IMAGE_MAP_ARGS,
    TEST_BUSYBOX_IMAGE,
    TEST_NAMESPACE,
    admin_kubeconfig,
    cluster_options,
    flow_kubeconfig,
    require_cluster,
)

WAIT_SECONDS = 90


@pytest.fixture
def session(tmp_path: Path) -> Iterator[FlowSession]:
    require_cluster()
    with FlowSession(KubernetesBackend(**cluster_options(), unschedulable_timeout=5), tmp_path) as session:
        yield session
    assert session.backend is not None
    session.backend.close()


def with_platform(ir: str, executor: str, settings: dict[str, Any]) -> str:
    """The IR with a kfp-kubernetes platform document for one executor, as kfp-kubernetes writes it."""
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {executor: settings}}}}}
    return ir + "---\n" + yaml.safe_dump(platform)


def core_api(kubeconfig: str | None) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


def test_an_image_that_cannot_be_pulled_fails_fast_with_the_reason(session: FlowSession) -> None:
    started = time.monotonic()
    result = session.run(pipeline({"ghost": Step("true", image="flow-test/no-such-image:1")}))
    elapsed = time.monotonic() - started
    assert result.state == RunState.FAILED
    record = session.store.task(result.run_id, "ghost") if session.store else None
    assert record is not None and record.reason == REASON_IMAGE
    assert "flow-test/no-such-image:1" in result.tasks["ghost"].error
    assert elapsed < 60


def test_a_task_over_its_memory_limit_is_reported_oom_killed(session: FlowSession) -> None:
    hog = Step("head -c 300m /dev/zero | tail > /dev/null", resources={"resourceMemoryLimit": "48Mi"})
    result = session.run(pipeline({"hog": hog}))
    record = session.store.task(result.run_id, "hog") if session.store else None
    assert result.state == RunState.FAILED and record is not None
    error = result.tasks["hog"].error
    # The runtime learns of an OOM kill from the kernel's OOM event, which containerd 1.x may handle after the
    # exit it caused (containerd/containerd#8180, #12260; ordered by #12714): the pod then says
    # Error for the same kill, and flow can only report the SIGKILL's exit code.
    assert record.reason == REASON_OOM or error.startswith("exited with code 137"), error


def test_a_pod_deleted_from_under_the_run_fails_its_task_with_the_reason(session: FlowSession) -> None:
    outcome: dict[str, Any] = {}
    started = threading.Event()
    held = pipeline({"held": Step(WAIT_FOR_RELEASE)})

    def run_held() -> None:
        def on_start(record: RunRecord) -> None:
            outcome["run_id"] = record.run_id
            started.set()

        outcome["result"] = session.run(held, on_start=on_start)

    runner = threading.Thread(target=run_held)
    runner.start()
    assert started.wait(WAIT_SECONDS), "the run did not start"
    core = core_api(flow_kubeconfig())
    deadline = time.monotonic() + WAIT_SECONDS
    pods: list[Any] = []
    while not pods and time.monotonic() < deadline:  # this run's pod: tests in parallel share the namespace
        pods = core.list_namespaced_pod(TEST_NAMESPACE, label_selector=f"flow.run={outcome['run_id']}").items
        pods = [p for p in pods if p.status.phase == "Running"]
        time.sleep(0.2)
    assert pods, "the task's pod never ran"
    core.delete_namespaced_pod(pods[0].metadata.name, TEST_NAMESPACE, grace_period_seconds=0)
    runner.join(WAIT_SECONDS)
    assert not runner.is_alive()
    result = outcome["result"]
    record = session.store.task(result.run_id, "held") if session.store else None
    assert result.state == RunState.FAILED and record is not None and record.reason == REASON_LOST
    assert "deleted" in result.tasks["held"].error


def test_a_secret_reaches_the_task_as_env_and_not_the_store(session: FlowSession) -> None:
    admin = core_api(admin_kubeconfig())
    name, value = "flow-test-db", "s3cret-value-17"
    with contextlib.suppress(client.exceptions.ApiException):
        admin.delete_namespaced_secret(name, TEST_NAMESPACE)
    secret = {"metadata": {"name": name}, "data": {"password": base64.b64encode(value.encode()).decode()}}
    admin.create_namespaced_secret(TEST_NAMESPACE, secret)
    # The task compares digests, so the value appears nowhere but in the cluster's secret and the pod's env.
    expected = hashlib.sha256(value.encode()).hexdigest()
    check = Step(f'[ "$(printf %s "$DB_PASSWORD" | sha256sum | cut -c1-64)" = {expected} ] && echo matches')
    to_env = [{"secretKey": "password", "envVar": "DB_PASSWORD"}]
    settings = {"secretAsEnv": [{"secretName": name, "keyToEnv": to_env}]}
    result = session.run(with_platform(pipeline({"check": check}), "exec-check", settings))
    assert result.succeeded, result.error
    assert "matches" in result.tasks["check"].log()
    assert session.store is not None
    stored = b"".join(path.read_bytes() for path in session.workdir.rglob("*") if path.is_file())
    assert value.encode() not in stored


def test_a_node_selector_no_node_meets_is_reported_unschedulable(session: FlowSession) -> None:
    settings = {"nodeSelector": {"labels": {"flow-test/disk": "nowhere"}}}
    result = session.run(with_platform(pipeline({"picky": Step("true")}), "exec-picky", settings))
    record = session.store.task(result.run_id, "picky") if session.store else None
    assert result.state == RunState.FAILED and record is not None and record.reason == REASON_UNSCHEDULABLE
    assert "node" in result.tasks["picky"].error


def test_flow_run_cluster_then_artifacts_download_through_the_cli(tmp_path: Path) -> None:
    require_cluster()
    ir = tmp_path / "wiring.yaml"
    ir.write_text(WIRING)
    env = {**os.environ, "KUBECONFIG": flow_kubeconfig() or "", "FLOW_HOME": str(tmp_path / "home")}
    # The volume helper's image (busybox:1.36) is mapped to the local busybox like the pipeline's images.
    helper_image = ["--image-map", f"{DEFAULT_FILES_IMAGE}={TEST_BUSYBOX_IMAGE}"]
    cluster = ["--cluster", "--namespace", TEST_NAMESPACE, "--pull", "never", *IMAGE_MAP_ARGS, *helper_image]
    ran = flow(["run", str(ir), "-p", "n=4", *cluster], env)
    assert ran.returncode == 0, ran.stderr
    assert f"root pvc://{TEST_NAMESPACE}/flow-root" in ran.stdout and "--download" in ran.stdout
    run_id = ran.stdout.split()[1].rstrip(":")

    shown = json.loads(flow(["show", run_id, "-o", "json"], env).stdout)
    assert shown["state"].lower() == "succeeded"
    copied = flow(["artifacts", run_id, "--download", str(tmp_path / "copy"), *cluster[3:]], env)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "copy/produce/table").read_text().split() == ["1", "2", "3", "4"]

    root = f"pvc://{TEST_NAMESPACE}/flow-root"
    backend = KubernetesBackend(**cluster_options())
    try:
        files = kinds.files(root, lambda: backend)
        assert files.exists([run_id]) == {run_id}
        removed = flow(
            ["rm", run_id, *cluster[3:]], env
        )  # its folder goes from the volume, through the helper
        assert removed.returncode == 0 and removed.stdout.startswith(f"removed run {run_id}"), removed.stderr
        assert removed.stderr == ""
        assert files.exists([run_id]) == set()
    finally:
        backend.close()


def flow(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "runner.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_ctrl_c_deletes_the_run_pods_and_resume_finishes_the_run(tmp_path: Path) -> None:
    require_cluster()
    home = tmp_path / "home"
    env = {**os.environ, "KUBECONFIG": flow_kubeconfig() or "", "FLOW_HOME": str(home)}
    ir = tmp_path / "held.yaml"
    ir.write_text(pipeline({"first": Step("echo first"), "held": Step(WAIT_FOR_RELEASE, after=("first",))}))
    helper_image = ["--image-map", f"{DEFAULT_FILES_IMAGE}={TEST_BUSYBOX_IMAGE}"]
    cluster = ["--cluster", "--namespace", TEST_NAMESPACE, "--pull", "never", *IMAGE_MAP_ARGS, *helper_image]
    command = subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", "run", str(ir), *cluster],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_id = ""
    deadline = time.monotonic() + WAIT_SECONDS
    while not run_id and time.monotonic() < deadline:
        if (home / "flow.db").exists():
            with SQLiteStore(home / "flow.db") as store:
                runs = store.runs(1)
                held = store.task(runs[0].run_id, "held") if runs else None
                if held is not None and held.state.value == "RUNNING":
                    run_id = runs[0].run_id
        time.sleep(0.2)
    assert run_id, "the held task never ran"
    command.send_signal(signal.SIGINT)
    assert command.wait(WAIT_SECONDS) == 130, command.stdout.read() if command.stdout else ""
    core = core_api(flow_kubeconfig())
    deadline = time.monotonic() + 10
    while core.list_namespaced_pod(TEST_NAMESPACE, label_selector=f"flow.run={run_id}").items:
        assert time.monotonic() < deadline, "pods of the cancelled run are left after 10 s"
        time.sleep(0.2)
    with SQLiteStore(home / "flow.db") as store:
        assert store.run(run_id).state == RunState.CANCELLED

    backend = KubernetesBackend(**cluster_options())
    files = kinds.view(backend, f"pvc://{TEST_NAMESPACE}/flow-root").files()
    files.write("release", b"")  # every held task in this volume goes on while the file is there
    try:
        resumed = flow(["resume", run_id, *cluster[3:]], env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    finally:
        files.reset("release", create=False)
        backend.close()
    with SQLiteStore(home / "flow.db") as store:
        first, held = store.task(run_id, "first"), store.task(run_id, "held")
    assert first is not None and first.attempts == 1, "first ran again"
    assert held is not None and held.state.value == "SUCCEEDED" and held.attempts == 2


@pytest.fixture
def own_claim(tmp_path: Path) -> Iterator[str]:
    """A claim of the test's own on a hostPath volume, so that its volume helper is no other test's."""
    require_cluster()
    name = f"flow-test-helper-{uuid.uuid4().hex[:8]}"
    volume = {
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": name,
            "hostPath": {"path": str(tmp_path / "volume"), "type": "DirectoryOrCreate"},
        },
    }
    claim = {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": name,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    admin = core_api(admin_kubeconfig())
    admin.create_persistent_volume(volume)
    admin.create_namespaced_persistent_volume_claim(TEST_NAMESPACE, claim)
    try:
        yield name
    finally:
        with contextlib.suppress(client.exceptions.ApiException):
            admin.delete_namespaced_pod(helper_name(name), TEST_NAMESPACE, grace_period_seconds=0)
        admin.delete_namespaced_persistent_volume_claim(name, TEST_NAMESPACE)
        admin.delete_persistent_volume(name)


def wait_for_pod(core: client.CoreV1Api, name: str, phase: str | None) -> None:
    """Until the pod is in `phase`, or gone for None."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = core.list_namespaced_pod(TEST_NAMESPACE, field_selector=f"metadata.name={name}").items
        if (found[0].status.phase if found else None) == phase:
            return
        assert time.monotonic() < deadline, f"pod {name} is not {phase or 'gone'}"
        time.sleep(0.2)


@pytest.mark.parametrize("left", ["an unpullable image", "another image"])
def test_a_volume_helper_that_cannot_serve_is_replaced(own_claim: str, left: str) -> None:
    """A helper pod an earlier run left failing (its image map named an image the node lacks), or made
    with another image, is not reused: the next engine replaces it with its own."""
    backend = KubernetesBackend(**cluster_options(), pvc=own_claim)
    core = core_api(flow_kubeconfig())
    try:
        helper = backend.helper
        other = "flow-test/no-such-image:1" if left == "an unpullable image" else "flow-test/python:3.11"
        core.create_namespaced_pod(TEST_NAMESPACE, HelperPod(core, helper.settings, other).manifest())
        if left == "another image":  # running, as the helper of an engine with another image map would be
            wait_for_pod(core, helper.name, "Running")
        files = kinds.view(backend, f"pvc://{TEST_NAMESPACE}/{own_claim}").files()
        files.write("helper-check", b"served")
        assert files.read(["helper-check"]) == {"helper-check": b"served"}
        pod = core.read_namespaced_pod(helper.name, TEST_NAMESPACE)
        assert [c.image for c in pod.spec.containers] == [TEST_BUSYBOX_IMAGE]
    finally:
        backend.close()


def test_engines_starting_together_all_replace_a_helper_that_cannot_serve(own_claim: str) -> None:
    """Several engines (a test run's workers, runs started together) find the same helper unable to serve
    (a stale one whose container died with its node, here one of another image): each may delete it and make
    it again at the same moment, and every one of them is served."""
    core = core_api(flow_kubeconfig())
    backends = [KubernetesBackend(**cluster_options(), pvc=own_claim) for _ in range(4)]
    try:
        stale = HelperPod(core, backends[0].helper.settings, "flow-test/python:3.11")
        core.create_namespaced_pod(TEST_NAMESPACE, stale.manifest())
        wait_for_pod(core, stale.name, "Running")
        start = threading.Barrier(len(backends))
        errors: list[BaseException] = []

        def serve(index: int) -> None:
            try:
                files = kinds.view(backends[index], f"pvc://{TEST_NAMESPACE}/{own_claim}").files()
                start.wait()
                files.write(f"engine-{index}", b"served")
            except BaseException as exc:  # the thread's failure, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=serve, args=(i,)) for i in range(len(backends))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        files = kinds.view(backends[0], f"pvc://{TEST_NAMESPACE}/{own_claim}").files()
        names = [f"engine-{i}" for i in range(len(backends))]
        assert files.read(names) == dict.fromkeys(names, b"served")
        pod = core.read_namespaced_pod(stale.name, TEST_NAMESPACE)
        assert [c.image for c in pod.spec.containers] == [TEST_BUSYBOX_IMAGE]
    finally:
        for backend in backends:
            backend.close()


def test_a_volume_operation_cut_short_by_its_helper_going_runs_again(own_claim: str, tmp_path: Path) -> None:
    """The helper can go in the middle of an exec (another engine replaced it, its node went): the exec ends
    killed or cut off, and the operation runs again on a new helper instead of failing the run."""
    core = core_api(flow_kubeconfig())
    backend = KubernetesBackend(**cluster_options(), pvc=own_claim)
    try:
        files = kinds.view(backend, f"pvc://{TEST_NAMESPACE}/{own_claim}").files()
        files.write("before", b"")
        first = core.read_namespaced_pod(backend.helper.name, TEST_NAMESPACE).metadata.uid
        started = tmp_path / "volume" / "started"  # the claim's hostPath: the script's mark, seen from here

        def delete_the_helper_once_the_script_runs() -> None:
            deadline = time.monotonic() + WAIT_SECONDS
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            core.delete_namespaced_pod(backend.helper.name, TEST_NAMESPACE, grace_period_seconds=0)

        killer = threading.Thread(target=delete_the_helper_once_the_script_runs)
        killer.start()
        try:
            # Only the first run waits: long enough for the helper to be deleted under it on a loaded machine.
            script = 'echo run >> started; [ "$(wc -l < started)" -gt 1 ] || sleep 60; echo "ran to the end"'
            out = files.run(script)
        finally:
            killer.join()
        assert out == b"ran to the end\n"
        assert started.read_text() == "run\nrun\n"
        assert core.read_namespaced_pod(backend.helper.name, TEST_NAMESPACE).metadata.uid != first
    finally:
        backend.close()


def test_a_volume_helper_that_cannot_run_is_not_left_behind(own_claim: str) -> None:
    options = {**cluster_options(), "files_image": "flow-test/no-such-image:1", "pvc": own_claim}
    broken = KubernetesBackend(**options)
    try:
        with pytest.raises(BackendError, match="cannot run"):
            kinds.view(broken, f"pvc://{TEST_NAMESPACE}/{own_claim}").files().read(["anything"])
        wait_for_pod(core_api(flow_kubeconfig()), broken.helper.name, None)
    finally:
        broken.close()
