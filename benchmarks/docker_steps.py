"""flow's docker backend against the same containers run by hand, and against kfp.local's DockerRunner.

1. A 16-step chain: flow vs the same 16 containers run one by one through the Docker SDK (create, start,
   wait, read logs, remove). Target: flow / bare <= 1.10.
2. 16 independent steps from one pipeline file: flow vs kfp.local.DockerRunner (kfp 2.17.3) running the
   same file. Target: kfp.local / flow >= 1.7.

Every step is a container component running `sleep 0.5` in a local image; both sides use the same image,
so nothing is pulled. Times are wall-clock seconds measured in this run.

    python benchmarks/docker_steps.py [--steps 16] [--image flow-test/busybox:latest] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import docker
import yaml

from backends.local import DockerBackend
from runner import run
from runner.store import RunState, SQLiteStore

TARGET_CHAIN, TARGET_KFP = 1.10, 1.7
STEP = ["sh", "-c", "sleep 0.5; echo done"]


def pipeline(steps: int, image: str, chained: bool) -> str:
    """IR as kfp compiles a pipeline of `steps` copies of one container component."""
    tasks = {}
    for i in range(steps):
        task: dict[str, object] = {
            "componentRef": {"name": "comp-step"},
            "taskInfo": {"name": f"step-{i}"},
            "cachingOptions": {},
        }
        if chained and i:
            task["dependentTasks"] = [f"step-{i - 1}"]
        tasks[f"step-{i}"] = task
    return yaml.safe_dump(
        {
            "pipelineInfo": {"name": "bench-chain" if chained else "bench-fan"},
            "components": {"comp-step": {"executorLabel": "exec-step"}},
            "deploymentSpec": {"executors": {"exec-step": {"container": {"image": image, "command": STEP}}}},
            "root": {"dag": {"tasks": tasks}},
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.17.3",
        }
    )


def flow_seconds(text: str, workdir: Path, parallelism: int) -> float:
    os.environ["FLOW_HOME"] = str(workdir)
    store = SQLiteStore(workdir / "flow.db")
    backend = DockerBackend(pull="never")
    started = time.perf_counter()
    result = run(
        text, backend=backend, root=workdir / "root", store=store, parallelism=parallelism, cache=False
    )
    elapsed = time.perf_counter() - started
    backend.close()
    store.close()
    if result.state != RunState.SUCCEEDED:
        raise SystemExit(f"flow run failed: {result.error}")
    return elapsed


def bare_seconds(steps: int, image: str) -> float:
    """The same containers, one after the other, straight through the Docker SDK."""
    client = docker.from_env()
    started = time.perf_counter()
    for _ in range(steps):
        container = client.containers.run(image, STEP, detach=True)
        if container.wait()["StatusCode"] != 0:
            raise SystemExit("a bare container failed")
        container.logs()
        container.remove()
    return time.perf_counter() - started


def kfp_local_seconds(text: str, workdir: Path) -> float:
    from kfp import components, local

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "pipeline.yaml"
    path.write_text(text)
    local.init(runner=local.DockerRunner(), pipeline_root=str(workdir / "kfp-root"), raise_on_error=True)
    pipeline_func = components.load_component_from_file(str(path))
    started = time.perf_counter()
    pipeline_func()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--image", default="flow-test/busybox:latest")
    parser.add_argument(
        "--parallelism", type=int, default=16, help="flow's parallelism for independent steps"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bare = bare_seconds(args.steps, args.image)
        chain = flow_seconds(pipeline(args.steps, args.image, chained=True), Path(tmp) / "chain", 1)
        fan_text = pipeline(args.steps, args.image, chained=False)
        fan = flow_seconds(fan_text, Path(tmp) / "fan", args.parallelism)
        kfp = kfp_local_seconds(fan_text, Path(tmp) / "kfp")

    chain_ratio, kfp_ratio = chain / bare, kfp / fan
    chain_verdict = "ok" if chain_ratio <= TARGET_CHAIN else "MISSED"
    kfp_verdict = "ok" if kfp_ratio >= TARGET_KFP else "MISSED"
    print(
        f"{args.steps}-step chain: flow {chain:6.2f} s, bare Docker SDK {bare:6.2f} s, "
        f"flow/bare = {chain_ratio:.2f}x (target <= {TARGET_CHAIN:.2f}x: {chain_verdict})"
    )
    print(
        f"{args.steps} independent steps: flow {fan:6.2f} s (parallelism {args.parallelism}), "
        f"kfp.local DockerRunner {kfp:6.2f} s, kfp.local/flow = {kfp_ratio:.2f}x "
        f"(target >= {TARGET_KFP:.1f}x: {kfp_verdict})"
    )


if __name__ == "__main__":
    main()
