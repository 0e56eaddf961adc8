"""How long a detached run takes to start its first task, and a replaced driver to take the run over.

    FLOW_STORE=postgresql://flow:flow@172.17.0.1:5432/flow KUBECONFIG=/var/lib/flow-cluster/flow.kubeconfig \
        python benchmarks/detach_times.py [--rounds 3] [--namespace flow]

Per round, alternately:
  - attached: `flow run --cluster`, from the command's start to its first task pod's creation (the baseline);
  - detached: `flow run --cluster --detach`, from the command's start to the command's return and to the
    first task pod's creation (made by the driver in the cluster);
  - takeover: with a task held running, the driver pod is deleted; from the deletion to the moment the new
    driver's engine recorded the run as started again (the run's started_at in the shared store).
Medians are printed, and the detached start over the attached one. Needs the flow image
(scripts/build-flow-image.sh) and the test images; images are never pulled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

from backends.k8s import DEFAULT_FILES_IMAGE
from backends.k8s.driver import LABEL_DRIVER_OF, driver_name
from runner import api
from runner.store import TaskRecord, TaskState
from runner.testing.shellsteps import Step, pipeline

BUSYBOX = "flow-test/busybox:latest"
HELD = 'while [ ! -f "{{$.pipeline_root}}/release-{{$.pipeline_job_uuid}}" ]; do sleep 0.2; done'
_POLL = 0.05


def flow_command(ir: Path, namespace: str, *extra: str) -> list[str]:
    maps = ["--image-map", f"busybox:latest={BUSYBOX}", "--image-map", f"{DEFAULT_FILES_IMAGE}={BUSYBOX}"]
    cluster = ["--cluster", "--namespace", namespace, "--pull", "never", "--no-cache", *maps]
    return [sys.executable, "-m", "runner.cli.main", "run", str(ir), *cluster, *extra]


def first_task_pod(core: client.CoreV1Api, namespace: str, started: float, run_of: Any) -> float:
    """Seconds from `started` until a task pod of the run `run_of()` names exists."""
    while True:
        run_id = run_of()
        if run_id and core.list_namespaced_pod(namespace, label_selector=f"flow.run={run_id}").items:
            return time.monotonic() - started
        time.sleep(_POLL)


def attached(core: client.CoreV1Api, ir: Path, namespace: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    process = subprocess.Popen(flow_command(ir, namespace), env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    header = process.stdout.readline()  # "run ID: ..." once the run is recorded
    seconds = first_task_pod(core, namespace, started, lambda: header.split()[1].rstrip(":"))
    process.wait(300)
    return seconds


def detached(core: client.CoreV1Api, ir: Path, namespace: str, env: dict[str, str]) -> tuple[float, float]:
    started = time.monotonic()
    done = subprocess.run(flow_command(ir, namespace, "--detach"), env=env, capture_output=True, text=True)
    returned = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    seconds = first_task_pod(core, namespace, started, lambda: run_id)
    wait_finished(run_id, namespace)
    return returned, seconds


def takeover(core: client.CoreV1Api, ir: Path, namespace: str, env: dict[str, str]) -> float:
    done = subprocess.run(flow_command(ir, namespace, "--detach"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    with api.open_store() as store:
        while not is_running(store.task(run_id, "held")):
            time.sleep(_POLL)
        before = store.run(run_id).started_at
        pods = core.list_namespaced_pod(namespace, label_selector=f"{LABEL_DRIVER_OF}={run_id}").items
        deleted = time.time()
        core.delete_namespaced_pod(pods[0].metadata.name, namespace)
        while store.run(run_id).started_at == before:
            time.sleep(_POLL)
        seconds = (store.run(run_id).started_at or deleted) - deleted
    subprocess.run([sys.executable, "-m", "runner.cli.main", "cancel", run_id], env=env, capture_output=True)
    return seconds


def is_running(task: TaskRecord | None) -> bool:
    return task is not None and task.state == TaskState.RUNNING


def wait_finished(run_id: str, namespace: str) -> None:
    """Until the run has ended; then its driver Job goes (the TTL controller is not in every cluster)."""
    with api.open_store() as store:
        while not store.run_state(run_id).finished:
            time.sleep(0.2)
    batch = client.BatchV1Api(config.new_client_from_config(config_file=os.environ.get("KUBECONFIG")))
    batch.delete_namespaced_job(driver_name(run_id), namespace, propagation_policy="Background")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--namespace", default="flow")
    args = parser.parse_args()
    core = client.CoreV1Api(config.new_client_from_config(config_file=os.environ.get("KUBECONFIG")))
    with tempfile.TemporaryDirectory() as folder:
        quick, held = Path(folder) / "quick.yaml", Path(folder) / "held.yaml"
        quick.write_text(pipeline({"one": Step("echo one")}))
        held.write_text(pipeline({"held": Step(HELD)}))
        env = {**os.environ, "FLOW_HOME": str(Path(folder) / "home")}
        times: dict[str, list[float]] = {"attached": [], "returned": [], "detached": [], "takeover": []}
        for _ in range(args.rounds):
            times["attached"].append(attached(core, quick, args.namespace, env))
            returned, first = detached(core, quick, args.namespace, env)
            times["returned"].append(returned)
            times["detached"].append(first)
            times["takeover"].append(takeover(core, held, args.namespace, env))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"flow run --cluster: first task pod after {median['attached']:.2f} s (baseline)")
    print(f"flow run --cluster --detach: returns after {median['returned']:.2f} s")
    print(
        f"flow run --cluster --detach: first task pod after {median['detached']:.2f} s "
        f"({median['detached'] / median['attached']:.2f}x the baseline)"
    )
    print(f"driver pod deleted: the new driver takes the run over after {median['takeover']:.2f} s")
    print(f"(medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
