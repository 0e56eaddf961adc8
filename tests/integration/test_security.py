"""What a component container gets, and does not, on the docker backend: no Docker socket, no kubeconfig, no
privileges; with --run-as-non-root it runs as nobody (65534) and can still write its outputs.

Pods get no cluster credentials either: tests/unit/test_k8s_pods.py
(test_a_task_becomes_a_pod_with_the_volume_at_flow_and_no_cluster_credentials) checks that the manifest
turns automountServiceAccountToken off; the same file and tests/e2e/test_k8s_non_root.py cover
--run-as-non-root on Kubernetes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml

from backends.local import DockerBackend
from runner import run
from runner.api import open_store
from runner.store import RunState, TaskState
from runner.testing.shellsteps import Step, pipeline
from tests.conftest import IMAGE_MAP_ARGS, TEST_IMAGE_MAP, require_docker

# Lists what a task could reach the Docker engine or a cluster with, then fails, so that its container
# is kept (--keep-failed) for the test to inspect.
LOOK_AROUND = (
    "cat /proc/mounts; env; ls -a / /root /var/run /run; "
    "ls -la /var/run/docker.sock /run/docker.sock /root/.kube 2>&1; exit 3"
)


@pytest.fixture
def docker_client() -> Iterator[docker.DockerClient]:
    require_docker()
    client = docker.from_env()
    yield client
    client.close()


def kept_container(client: docker.DockerClient, run_id: str) -> dict[str, object]:
    found = client.api.containers(all=True, filters={"label": f"flow.run={run_id}"})
    assert len(found) == 1, found
    attrs: dict[str, object] = client.api.inspect_container(found[0]["Id"])
    client.api.remove_container(found[0]["Id"], force=True)
    return attrs


def test_a_docker_task_gets_no_docker_socket_no_kubeconfig_and_no_privileges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_client: docker.DockerClient
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # flow's own environment must not reach tasks
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never", keep_failed=True)
    result = run(pipeline({"look": Step(LOOK_AROUND)}), backend=backend, root=tmp_path / "root")
    assert result.state == RunState.FAILED
    attrs = kept_container(docker_client, result.run_id)

    host = attrs["HostConfig"]
    assert isinstance(host, dict)
    assert host["Privileged"] is False
    assert not host.get("CapAdd") and not host.get("Devices")
    assert host["NetworkMode"] != "host" and host["PidMode"] != "host"
    mounts = attrs["Mounts"]
    assert isinstance(mounts, list)
    assert [m["Destination"] for m in mounts] == ["/flow"]
    assert mounts[0]["Source"] == result.root

    seen = result.tasks["look"].log()
    assert "/flow" in seen  # the listing really ran
    assert "docker.sock" not in seen.replace("docker.sock: No such file", "")
    assert "KUBECONFIG" not in seen and "DOCKER_HOST" not in seen
    assert str(kubeconfig) not in seen
    assert "/root/.kube: No such file" in seen


def nobody_writes_outputs() -> str:
    """One step that reports who it runs as through an output parameter and an output artifact."""
    doc = yaml.safe_load(pipeline({"who": Step('id -u > "$0"; id -g > "$1"')}))
    doc["components"]["comp-who"]["outputDefinitions"] = {
        "parameters": {"uid": {"parameterType": "STRING"}},
        "artifacts": {"gid": {"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}},
    }
    doc["deploymentSpec"]["executors"]["exec-who"]["container"]["command"] += [
        "{{$.outputs.parameters['uid'].output_file}}",
        "{{$.outputs.artifacts['gid'].path}}",
    ]
    return str(yaml.safe_dump(doc))


def test_run_as_non_root_runs_tasks_as_nobody_who_can_write_their_outputs(tmp_path: Path) -> None:
    require_docker()
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never", run_as_non_root=True)
    result = run(nobody_writes_outputs(), backend=backend, root=tmp_path / "root")
    assert result.succeeded, result.error
    task = result.tasks["who"]
    assert task.outputs == {"uid": "65534\n"}
    assert task.artifacts["gid"].path.read_text() == "65534\n"


def test_without_run_as_non_root_a_task_runs_as_its_images_user(tmp_path: Path) -> None:
    require_docker()
    backend = DockerBackend(image_map=TEST_IMAGE_MAP, pull="never")
    result = run(nobody_writes_outputs(), backend=backend, root=tmp_path / "root")
    assert result.succeeded, result.error
    assert result.tasks["who"].outputs == {"uid": "0\n"}  # busybox's user is root


def flow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args], capture_output=True, text=True, timeout=300
    )


def test_flow_run_and_resume_take_run_as_non_root(tmp_path: Path) -> None:
    """The flag reaches the backend on both commands (the process backend, which has no such option,
    is simply not given it)."""
    require_docker()
    steps = {
        "first": Step("id -u"),
        # Fails until the test releases it, so that `flow resume` runs it.
        "second": Step('[ -f "{{$.pipeline_root}}/release" ] && id -u', after=("first",)),
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline(steps))
    root = tmp_path / "root"
    options = ["--pull", "never", *IMAGE_MAP_ARGS, "--run-as-non-root"]
    first = flow("run", str(path), "--backend", "docker", "--root", str(root), *options)
    assert first.returncode == 1, first.stdout + first.stderr
    with open_store() as store:
        run_id = store.runs(1)[0].run_id
    (root / "release").write_text("")
    resumed = flow("resume", run_id, *options)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with open_store() as store:
        tasks = {t.path: t for t in store.tasks(run_id)}
    assert tasks["second"].state == TaskState.SUCCEEDED and tasks["second"].attempts == 2
    for name in ("first", "second"):
        assert Path(tasks[name].log_path).read_text().strip() == "65534"

    on_process = flow("run", str(path), "--backend", "process", "--root", str(root), "--run-as-non-root")
    assert on_process.returncode == 0, on_process.stdout + on_process.stderr
