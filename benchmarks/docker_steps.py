"""flow's docker backend against the same containers run bare through the Docker SDK, and against kfp.local's
DockerRunner (when the kfp package is installed).

Two shapes of `--steps` (16) steps, each a container component of a local image (nothing is pulled):
1. a chain: bare runs the containers one by one (create, start, wait, read logs, remove);
2. independent steps: bare runs them with `--parallelism` threads, flow with --parallelism as well;
   kfp.local runs a pipeline's tasks one at a time.
flow runs through its command line as users call it (`flow run FILE --backend docker`), start-up included.
The bare column runs in this Python; the "bare script" column runs the same in a Python process of its own,
so it pays the start-up any Python client of Docker pays: flow/bare script is what flow adds beyond that.
Steps are trivial by default (`echo`); `--sleep SECONDS` makes each sleep first, which parallelism absorbs.

Each round runs every column once, in turn; the medians of `--rounds` rounds (3) are printed with the ratios
and the load of the machine. Targets (issue 23), against the bare column: chain flow/bare <= 1.05,
independent flow/bare <= 1.15 and kfp.local/flow >= 1.25.

    python benchmarks/docker_steps.py [--steps 16] [--parallelism 2] [--rounds 3] [--sleep 0]
        [--image flow-test/busybox:latest]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import yaml

TARGET_CHAIN, TARGET_FAN, TARGET_KFP = 1.05, 1.15, 1.25


def step_command(sleep: float) -> list[str]:
    return ["sh", "-c", f"sleep {sleep}; echo done" if sleep else "echo done"]


def pipeline(steps: int, image: str, command: list[str], chained: bool) -> str:
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
            "deploymentSpec": {
                "executors": {"exec-step": {"container": {"image": image, "command": command}}}
            },
            "root": {"dag": {"tasks": tasks}},
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.17.3",
        }
    )


def flow_seconds(path: Path, home: Path, parallelism: int) -> float:
    """`flow run` of the file, in a process of its own, as users run it."""
    env = {**os.environ, "FLOW_HOME": str(home)}
    command = [sys.executable, "-m", "runner.cli.main", "run", str(path), "--backend", "docker"]
    command += ["--pull", "never", "--no-cache", "--parallelism", str(parallelism)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"flow run failed: {done.stderr.strip()}")
    return elapsed


def bare_seconds(steps: int, image: str, command: list[str], threads: int) -> float:
    """The same containers straight through the Docker SDK, `threads` at a time."""
    client = docker.from_env()

    def one(_: int) -> None:
        container = client.containers.run(image, command, detach=True)
        if container.wait()["StatusCode"] != 0:
            raise SystemExit("a bare container failed")
        container.logs()
        container.remove()

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(steps)))
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def bare_script_seconds(steps: int, image: str, command: list[str], threads: int) -> float:
    """`bare_seconds` in a Python process of its own, timed from outside as `flow run` is: what any Python
    client of Docker pays to start (the interpreter, the Docker SDK) is in this column too."""
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); from docker_steps import bare_seconds; "
        f"bare_seconds({steps}, {image!r}, {command!r}, {threads})"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def kfp_local_seconds(path: Path, root: Path) -> float:
    """kfp.local's DockerRunner running the file (it runs a pipeline's tasks one at a time)."""
    from kfp import components, local

    logging.disable(logging.INFO)  # its lines per task would hide the figures
    local.init(runner=local.DockerRunner(), pipeline_root=str(root), raise_on_error=True)
    pipeline_func = components.load_component_from_file(str(path))
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        pipeline_func()
    return time.perf_counter() - started


def kfp_installed() -> bool:
    try:
        import kfp.local  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--image", default="flow-test/busybox:latest")
    parser.add_argument("--parallelism", type=int, default=2, help="for independent steps, bare and flow")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds each step sleeps first")
    args = parser.parse_args()
    command = step_command(args.sleep)
    with_kfp = kfp_installed()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shapes = {"chain": True, "independent": False}
        files = {}
        for shape, chained in shapes.items():
            files[shape] = work / f"{shape}.yaml"
            files[shape].write_text(pipeline(args.steps, args.image, command, chained), encoding="utf-8")
        columns: dict[str, dict[str, Callable[[int], float]]] = {}
        for shape, chained in shapes.items():
            threads = 1 if chained else args.parallelism
            path = files[shape]
            columns[shape] = {
                "bare": lambda _, t=threads: bare_seconds(args.steps, args.image, command, t),
                "bare script": lambda _, t=threads: bare_script_seconds(args.steps, args.image, command, t),
                "flow": lambda r, p=path, t=threads, s=shape: flow_seconds(p, work / f"home-{s}-{r}", t),
            }
            if with_kfp:
                columns[shape]["kfp.local"] = lambda r, p=path, s=shape: kfp_local_seconds(
                    p, work / f"kfp-{s}-{r}"
                )
        times: dict[str, dict[str, list[float]]] = {s: {c: [] for c in cols} for s, cols in columns.items()}
        for round_ in range(args.rounds):
            for shape, cols in columns.items():
                for name, measure in cols.items():
                    times[shape][name].append(measure(round_))

    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    kind = f"sleeping {args.sleep} s" if args.sleep else "trivial (echo)"
    print(f"{args.steps} steps, {kind}, {args.image}; load average {load} on {os.cpu_count()} cores;")
    print(f"medians of {args.rounds} alternating rounds, seconds:")
    if not with_kfp:
        print("  (kfp is not installed: no kfp.local column; pip install kfp==2.17.3 for it)")
    for shape in columns:
        med = {name: statistics.median(values) for name, values in times[shape].items()}
        how = "one by one" if shape == "chain" else f"parallelism {args.parallelism}"
        figures = ", ".join(f"{name} {value:6.2f}" for name, value in med.items())
        ratio = med["flow"] / med["bare"]
        target = TARGET_CHAIN if shape == "chain" else TARGET_FAN
        line = f"  {shape:11} ({how}): {figures}; flow/bare {ratio:.2f}x (target <= {target:.2f}x"
        line += f": {'ok' if ratio <= target else 'MISSED'})"
        line += f"; flow/bare script {med['flow'] / med['bare script']:.2f}x"
        if "kfp.local" in med and shape == "independent":
            kfp_ratio = med["kfp.local"] / med["flow"]
            line += f"; kfp.local/flow {kfp_ratio:.2f}x (target >= {TARGET_KFP:.2f}x"
            line += f": {'ok' if kfp_ratio >= TARGET_KFP else 'MISSED'})"
        elif "kfp.local" in med:
            line += f"; kfp.local/flow {med['kfp.local'] / med['flow']:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
