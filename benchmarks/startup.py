"""How long `flow` takes to start: `flow --version`, and `flow run` of a 20-step pipeline whose every step
is cached (nothing runs: the time is start-up, loading the file, the store and the engine).

Each command runs in a fresh process, as users call it, `--rounds` times in turn with the baseline
`python -c pass` (the interpreter's own start-up, measured in the same rounds); medians are printed, with
the load of the machine. Targets: `flow --version` <= 0.25 s, the cached run <= 0.5 s.
Modules are compiled once, before the timed rounds, into a folder of this run's own (as an installed
package has its bytecode), even where PYTHONDONTWRITEBYTECODE is set.

    python benchmarks/startup.py [--rounds 7] [--steps 20] [--backend process]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TARGET_VERSION, TARGET_CACHED = 0.25, 0.5
FLOW = [sys.executable, "-m", "runner.cli.main"]
HERE = Path(__file__).resolve().parents[1]  # the commands run this checkout's flow


def pipeline(steps: int) -> str:
    """A chain of `steps` cached echo steps."""
    tasks: dict[str, dict[str, object]] = {}
    for i in range(steps):
        task: dict[str, object] = {
            "componentRef": {"name": "comp-step"},
            "taskInfo": {"name": f"step-{i}"},
            "cachingOptions": {"enableCache": True},
        }
        if i:
            task["dependentTasks"] = [f"step-{i - 1}"]
        tasks[f"step-{i}"] = task
    return yaml.safe_dump(
        {
            "pipelineInfo": {"name": "bench-cached"},
            "schemaVersion": "2.1.0",
            "components": {"comp-step": {"executorLabel": "exec-step"}},
            "deploymentSpec": {
                "executors": {"exec-step": {"container": {"image": "busybox", "command": ["echo", "step"]}}}
            },
            "root": {"dag": {"tasks": tasks}},
        }
    )


def seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The command's wall time, and its CPU time (user and system): on a busy machine the wall time
    includes waiting for a core, the CPU time does not."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        command, cwd=HERE, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backend", default="process")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(pipeline(args.steps), encoding="utf-8")
        env = {
            **os.environ,
            "FLOW_HOME": str(Path(tmp) / "home"),
            "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pyc"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        run = [*FLOW, "run", str(path), "--backend", args.backend]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "flow --version": [*FLOW, "--version"],
            f"flow run (cached, {args.steps} steps)": run,
        }
        for command in commands.values():  # the first run runs every step; the timed ones find them cached
            seconds(command, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                wall, cpu = seconds(command, env)
                walls[name].append(wall)
                cpus[name].append(cpu)

    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} cores; medians of {args.rounds} rounds:")
    targets = dict(zip(list(commands)[1:], (TARGET_VERSION, TARGET_CACHED), strict=True))
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        spread = f"{min(walls[name]):.3f}-{max(walls[name]):.3f}"
        target = targets.get(name)
        verdict = (
            "" if target is None else f"; target <= {target:.2f} s: {'ok' if wall <= target else 'MISSED'}"
        )
        print(f"  {name:30} wall {wall:6.3f} s (spread {spread}), CPU {cpu:6.3f} s{verdict}")


if __name__ == "__main__":
    main()
