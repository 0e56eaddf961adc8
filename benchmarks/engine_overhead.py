"""Engine overhead per task on the fake backend: 10,000-task DAGs, wide and deep.

Prints microseconds of engine time per task (target: <= 100 us on a 2-core machine): scheduling, input
resolution, placeholders, recording every transition in the SQLite store and collecting outputs. The one-off
YAML parse is printed apart. As a baseline measured in the same run it prints the cost of the same number of
bare fake-backend submit/poll calls, so the ratio shows what the engine adds to the calls it must make.

    python benchmarks/engine_overhead.py [--tasks 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

from backends.base import TaskSpec
from backends.fake import FakeBackend
from runner import run
from runner.spec import PipelineSpec, load_text
from runner.store import RunState, Store

TARGET_US = 100.0


def pipeline(tasks: int, shape: str) -> str:
    """A pipeline of `tasks` copies of one echo component, all independent (wide) or one chain (deep)."""
    dag: dict[str, dict[str, object]] = {}
    for i in range(tasks):
        task: dict[str, object] = {"componentRef": {"name": "comp-step"}, "taskInfo": {"name": f"step-{i}"}}
        if shape == "deep" and i:
            task["dependentTasks"] = [f"step-{i - 1}"]
        dag[f"step-{i}"] = task
    return yaml.safe_dump(
        {
            "pipelineInfo": {"name": f"bench-{shape}"},
            "schemaVersion": "2.1.0",
            "components": {"comp-step": {"executorLabel": "exec-step"}},
            "deploymentSpec": {
                "executors": {
                    "exec-step": {
                        "container": {
                            "image": "busybox",
                            "command": ["echo"],
                            "args": ["{{$.pipeline_task_name}}"],
                        }
                    }
                }
            },
            "root": {"dag": {"tasks": dag}},
        }
    )


def engine_seconds(spec: PipelineSpec, workdir: Path, parallelism: int) -> float:
    store = Store(workdir / "flow.db")
    started = time.perf_counter()
    result = run(spec, backend=FakeBackend(), root=workdir / "root", store=store, parallelism=parallelism)
    elapsed = time.perf_counter() - started
    store.close()
    if result.state != RunState.SUCCEEDED:
        raise SystemExit(f"benchmark run failed: {result.error}")
    return elapsed


def bare_backend_seconds(tasks: int, parallelism: int) -> float:
    """The same number of submit and poll calls on a fresh fake backend, with no engine around them."""
    backend = FakeBackend()
    started = time.perf_counter()
    for first in range(0, tasks, parallelism):
        handles = [
            backend.submit(
                TaskSpec(
                    run_id="bench",
                    task_path=f"step-{i}",
                    attempt=1,
                    name=f"step-{i}",
                    image="busybox",
                    command=["echo"],
                )
            )
            for i in range(first, min(first + parallelism, tasks))
        ]
        backend.poll(handles)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    print(
        f"{'shape':<6} {'tasks':>6} {'parse us/task':>14} {'engine s':>9} {'us/task':>8} "
        f"{'bare backend us/task':>21} {'ratio':>6} {'target':>7}"
    )
    worst = 0.0
    for shape, parallelism in (("wide", os.cpu_count() or 2), ("deep", 1)):
        text = pipeline(args.tasks, shape)
        parse_started = time.perf_counter()
        spec = load_text(text)
        parse_per_task = (time.perf_counter() - parse_started) / args.tasks * 1e6
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["FLOW_HOME"] = tmp
            seconds = engine_seconds(spec, Path(tmp), parallelism)
        bare = bare_backend_seconds(args.tasks, parallelism)
        per_task = seconds / args.tasks * 1e6
        bare_per_task = bare / args.tasks * 1e6
        worst = max(worst, per_task)
        verdict = "ok" if per_task <= TARGET_US else "MISSED"
        print(
            f"{shape:<6} {args.tasks:>6} {parse_per_task:>14.1f} {seconds:>9.2f} {per_task:>8.1f} "
            f"{bare_per_task:>21.1f} "
            f"{per_task / bare_per_task:>5.1f}x {verdict:>7}"
        )
    print(
        f"worst engine overhead: {worst:.1f} us/task (target <= {TARGET_US:.0f} us/task: "
        f"{worst / TARGET_US:.2f}x of target)"
    )


if __name__ == "__main__":
    main()
