"""Engine overhead per task on the fake backend: 10,000-task DAGs, wide and deep.

Engine overhead per task is the run's time per task less the cost, measured in the same run, of the same
number of bare fake-backend submit/poll calls: it is what the engine adds (scheduling, input resolution,
placeholders, committing every scheduler tick's transitions to the SQLite store, collecting outputs).
Target: <= 200 us per task on a 2-core machine. The one-off YAML parse is printed apart. The run's CPU
time per task (all threads of the engine's process) is printed too: on a busy machine it shows how much of
the wall time was spent waiting. The run's graph is full of reference cycles that the garbage collector
frees after the run: the full collection that follows it is printed apart ("gc after"), and the bare calls
are timed after it, so they do not pay for it.
`--store URL` records into that store instead (a PostgreSQL one: what a shared store costs the engine).

Each shape runs `--repeat` times (3) and the run with the median overhead is printed, with the spread of
all of them: on a shared machine the same run varies from one minute to the next.

    python benchmarks/engine_overhead.py [--tasks 10000] [--repeat 3] [--store postgresql://...]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from backends.base import TaskSpec
from backends.fake import FakeBackend
from runner import run
from runner.spec import PipelineSpec, load_text
from runner.store import RunState, SQLiteStore, open_url

TARGET_US = 200.0


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


def engine_seconds(
    spec: PipelineSpec, workdir: Path, parallelism: int, store_url: str | None
) -> tuple[float, float, float]:
    """The run's wall time and CPU time, and the time of the collection of what it left, in seconds."""
    store = open_url(store_url) if store_url else SQLiteStore(workdir / "flow.db")
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run(spec, backend=FakeBackend(), root=workdir / "root", store=store, parallelism=parallelism)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store.close()
    state, error = result.state, result.error
    del result
    collect_started = time.perf_counter()
    gc.collect()
    collected = time.perf_counter() - collect_started
    if state != RunState.SUCCEEDED:
        raise SystemExit(f"benchmark run failed: {error}")
    return elapsed, cpu, collected


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
    parser.add_argument("--store", help="a store URL (postgresql://...) instead of a new SQLite file")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each shape; the one with the median overhead is shown"
    )
    args = parser.parse_args()
    repeat = max(1, args.repeat)
    print(
        f"{'shape':<6} {'tasks':>6} {'parse':>7} {'run s':>7} {'run':>7} {'run cpu':>8} {'backend':>8} "
        f"{'engine overhead':>16} {'engine/backend':>15} {'spread':>13} {'gc after':>9}"
        "   (times per task in us)"
    )
    worst = 0.0
    for shape, parallelism in (("wide", os.cpu_count() or 2), ("deep", 1)):
        text = pipeline(args.tasks, shape)
        parse_started = time.perf_counter()
        spec = load_text(text)
        parse_per_task = (time.perf_counter() - parse_started) / args.tasks * 1e6
        rounds = sorted(
            (measure(spec, args.tasks, parallelism, args.store) for _ in range(repeat)),
            key=lambda measured: measured.overhead,
        )
        median = rounds[len(rounds) // 2]
        worst = max(worst, median.overhead)
        print(
            f"{shape:<6} {args.tasks:>6} {parse_per_task:>7.1f} {median.seconds:>7.2f} "
            f"{median.per_task:>7.1f} {median.cpu_per_task:>8.1f} {median.bare_per_task:>8.1f} "
            f"{median.overhead:>16.1f} "
            f"{median.overhead / median.bare_per_task:>14.1f}x "
            f"{f'{rounds[0].overhead:.0f}-{rounds[-1].overhead:.0f}':>13} {median.gc_after_per_task:>9.1f}"
        )
    verdict = "met" if worst <= TARGET_US else "MISSED"
    print(
        f"worst engine overhead (median of {repeat}): {worst:.1f} us/task; "
        f"target <= {TARGET_US:.0f} us/task: {verdict} ({worst / TARGET_US:.2f}x of the target)"
    )


@dataclass(frozen=True)
class Measured:
    """One run of a shape and, right after it, the bare backend calls it is compared with."""

    seconds: float
    per_task: float
    cpu_per_task: float
    bare_per_task: float
    gc_after_per_task: float

    @property
    def overhead(self) -> float:
        return self.per_task - self.bare_per_task


def measure(spec: PipelineSpec, tasks: int, parallelism: int, store_url: str | None) -> Measured:
    gc.collect()  # the run starts with no garbage of an earlier one to collect
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FLOW_HOME"] = tmp
        seconds, cpu_seconds, collected = engine_seconds(spec, Path(tmp), parallelism, store_url)
    bare = bare_backend_seconds(tasks, parallelism)
    return Measured(
        seconds=seconds,
        per_task=seconds / tasks * 1e6,
        cpu_per_task=cpu_seconds / tasks * 1e6,
        bare_per_task=bare / tasks * 1e6,
        gc_after_per_task=collected / tasks * 1e6,
    )


if __name__ == "__main__":
    main()
