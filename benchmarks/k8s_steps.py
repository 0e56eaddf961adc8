"""flow --cluster against the same pods created and awaited one by one with the kubernetes client.

A 10-step chain, each step passing an output parameter to the next (so flow reads outputs back through
the cluster, as it must): flow's k8s backend vs the same 10 pods (same image, same command, the same
volume claim mounted) created, watched to completion and deleted by hand. Target: flow / bare <= 1.15.

    python benchmarks/k8s_steps.py [--steps 10] [--image flow-test/busybox:latest] [--kubeconfig F]
        [--namespace flow]

Times are wall-clock seconds measured in this run, bare and flow alternately for `--rounds` rounds (so a
change in the machine's load touches both); the median ratio is the figure. Images are never pulled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch

from backends.k8s import DEFAULT_CLAIM, KubernetesBackend
from runner import run
from runner.store import RunState, SQLiteStore

TARGET = 1.15
SCRIPT = 'echo $(( $0 + 1 )) > "$1"'


def pipeline(steps: int, image: str) -> str:
    """IR as kfp compiles a chain of one container component counting up, step after step."""
    component = {
        "executorLabel": "exec-step",
        "inputDefinitions": {"parameters": {"n": {"parameterType": "NUMBER_INTEGER"}}},
        "outputDefinitions": {"parameters": {"next": {"parameterType": "NUMBER_INTEGER"}}},
    }
    container = {
        "image": image,
        "command": ["sh", "-c", SCRIPT],
        "args": ["{{$.inputs.parameters['n']}}", "{{$.outputs.parameters['next'].output_file}}"],
    }
    tasks: dict[str, Any] = {}
    for i in range(steps):
        source: dict[str, Any] = (
            {"taskOutputParameter": {"producerTask": f"step-{i - 1}", "outputParameterKey": "next"}}
            if i
            else {"runtimeValue": {"constant": 0}}
        )
        tasks[f"step-{i}"] = {
            "componentRef": {"name": "comp-step"},
            "taskInfo": {"name": f"step-{i}"},
            "inputs": {"parameters": {"n": source}},
            "cachingOptions": {},
        }
    return yaml.safe_dump(
        {
            "pipelineInfo": {"name": "bench-k8s-chain"},
            "components": {"comp-step": component},
            "deploymentSpec": {"executors": {"exec-step": {"container": container}}},
            "root": {"dag": {"tasks": tasks}},
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.17.3",
        }
    )


def flow_seconds(steps: int, image: str, kubeconfig: str | None, namespace: str, workdir: Path) -> float:
    os.environ["FLOW_HOME"] = str(workdir)
    store = SQLiteStore(workdir / "flow.db")
    backend = KubernetesBackend(
        kubeconfig=kubeconfig, namespace=namespace, pull="never", files_image=image, image_map={}
    )
    started = time.perf_counter()
    result = run(pipeline(steps, image), backend=backend, store=store, parallelism=1, cache=False)
    elapsed = time.perf_counter() - started
    backend.close()
    store.close()
    if result.state != RunState.SUCCEEDED:
        raise SystemExit(f"flow run failed: {result.error}")
    if result.tasks[f"step-{steps - 1}"].outputs.get("next") != steps:
        raise SystemExit("flow's chain did not count to the number of steps")
    return elapsed


def bare_seconds(steps: int, image: str, kubeconfig: str | None, namespace: str) -> float:
    """The same pods, one after the other: create, watch until it finished, delete."""
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    started = time.perf_counter()
    for i in range(steps):
        name = f"bench-bare-{os.getpid()}-{i}"
        core.create_namespaced_pod(namespace, bare_pod(name, image, i))
        phase = ""
        stream = watch.Watch()
        for event in stream.stream(
            core.list_namespaced_pod, namespace, field_selector=f"metadata.name={name}", timeout_seconds=120
        ):
            phase = event["object"].status.phase
            if phase in ("Succeeded", "Failed"):
                stream.stop()
        if phase != "Succeeded":
            raise SystemExit(f"bare pod {name} ended {phase or 'nowhere'}")
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    return time.perf_counter() - started


def bare_pod(name: str, image: str, step: int) -> dict[str, Any]:
    out = f"/flow/bench-bare/{name}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", f"mkdir -p /flow/bench-bare && {SCRIPT}"],
                    "args": [str(step), out],
                    "volumeMounts": [{"name": "root", "mountPath": "/flow"}],
                }
            ],
            "volumes": [{"name": "root", "persistentVolumeClaim": {"claimName": DEFAULT_CLAIM}}],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="bare and flow measured alternately")
    parser.add_argument("--image", default="flow-test/busybox:latest")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    parser.add_argument("--namespace", default="flow")
    args = parser.parse_args()

    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        # flow first makes the claim if it is missing; a warm-up run keeps that out of both timings.
        flow_seconds(1, args.image, args.kubeconfig, args.namespace, Path(tmp) / "warm")
        for round_number in range(1, args.rounds + 1):
            bare = bare_seconds(args.steps, args.image, args.kubeconfig, args.namespace)
            workdir = Path(tmp) / f"chain-{round_number}"
            flow = flow_seconds(args.steps, args.image, args.kubeconfig, args.namespace, workdir)
            ratios.append(flow / bare)
            print(
                f"round {round_number}: {args.steps}-step chain: flow --cluster {flow:6.2f} s, "
                f"bare kubernetes client {bare:6.2f} s, flow/bare = {flow / bare:.2f}x"
            )
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio <= TARGET else "MISSED"
    print(f"median flow/bare over {args.rounds} rounds = {ratio:.2f}x (target <= {TARGET:.2f}x: {verdict})")


if __name__ == "__main__":
    main()
