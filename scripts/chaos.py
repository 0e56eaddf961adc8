"""Crash and resume: SIGKILL `flow run` at random moments of a 20-task pipeline, `flow resume` it, and check
that nothing was lost, redone or left behind. Prints one tally line per backend. Then the disk under
FLOW_HOME fills up while the pipeline runs on the process backend (a small tmpfs; needs root): the engine
must stop with one line and no traceback, the next command must record the run FAILED, and `flow resume`
must finish it with the same outputs.

For each kill: outputs (artifact content digests and output parameters) must equal those of an uninterrupted
run on Docker, no task the store had recorded as succeeded before the kill may run again, and no container
or pod of the run may be left after the resume, nor two of one task at once while it runs.

    python scripts/chaos.py                       # 20 kills on docker
    python scripts/chaos.py --backend k8s --kills 5
    python scripts/chaos.py --backend docker --backend k8s

With CI=true the exit status is 1 unless every tally is perfect.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.api import open_store
from runner.errors import StoreError
from runner.store import RunState, SQLiteStore, TaskState

TASKS = 20
BUSYBOX = "busybox:latest"
IMAGE_MAP = {"busybox:latest": "flow-test/busybox:latest", "busybox:1.36": "flow-test/busybox:latest"}
KUBECONFIG = "/var/lib/flow-cluster/flow.kubeconfig"
NAMESPACE = "flow"
RUN_SECONDS = 300  # the deadline of one `flow run` or `flow resume`
# Each task takes the outputs of these earlier tasks: a fan-out of eight from the source, joins of pairs, then
# a chain; eight levels deep, so that a run is not all waiting in line on a busy machine.
UPSTREAM: dict[int, tuple[int, ...]] = {
    0: (),
    **{i: (0,) for i in range(1, 9)},
    9: (1, 2),
    10: (3, 4),
    11: (5, 6),
    12: (7, 8),
    13: (9, 10),
    14: (11, 12),
    15: (13,),
    16: (14,),
    17: (15, 16),
    18: (17,),
    19: (18, 0),
}
# Concatenates its inputs and its own name into its output artifact, and reports the artifact's sha256.
# The sleep comes first, so that a kill often finds the task's container running.
STEP_SCRIPT = """sleep {sleep}
out="$1"; digest="$2"; shift 2
{{ for input in "$@"; do cat "$input"; done; echo "{name}"; }} > "$out.partial"
mv "$out.partial" "$out"
sha256sum "$out" | cut -d" " -f1 > "$digest"
"""


def task_name(index: int) -> str:
    return f"t{index:02d}"


def chaos_pipeline(seed: int) -> str:
    """The IR of the 20-task pipeline; each step sleeps 0.2-1.5 s (chosen by `seed`)."""
    rng = random.Random(seed)
    components: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    tasks: dict[str, Any] = {}
    for index, upstream in UPSTREAM.items():
        name = task_name(index)
        inputs = [f"in{k}" for k in range(len(upstream))]
        script = STEP_SCRIPT.format(sleep=f"{rng.uniform(0.2, 1.5):.2f}", name=name)
        executors[f"exec-{name}"] = {
            "container": {
                "image": BUSYBOX,
                "command": ["sh", "-c", script, name],
                "args": [
                    "{{$.outputs.artifacts['data'].path}}",
                    "{{$.outputs.parameters['digest'].output_file}}",
                    *(f"{{{{$.inputs.artifacts['{i}'].path}}}}" for i in inputs),
                ],
            }
        }
        component: dict[str, Any] = {
            "executorLabel": f"exec-{name}",
            "outputDefinitions": {
                "artifacts": {
                    "data": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}
                },
                "parameters": {"digest": {"parameterType": "STRING"}},
            },
        }
        if inputs:
            component["inputDefinitions"] = {
                "artifacts": {
                    i: {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}
                    for i in inputs
                }
            }
        components[f"comp-{name}"] = component
        task: dict[str, Any] = {"componentRef": {"name": f"comp-{name}"}, "taskInfo": {"name": name}}
        if upstream:
            task["dependentTasks"] = [task_name(u) for u in upstream]
            task["inputs"] = {
                "artifacts": {
                    i: {"taskOutputArtifact": {"producerTask": task_name(u), "outputArtifactKey": "data"}}
                    for i, u in zip(inputs, upstream, strict=True)
                }
            }
        tasks[name] = task
    last = task_name(TASKS - 1)
    root = {
        "dag": {
            "tasks": tasks,
            "outputs": {
                "artifacts": {
                    "result": {"artifactSelectors": [{"producerSubtask": last, "outputArtifactKey": "data"}]}
                },
                "parameters": {
                    "digest": {
                        "valueFromParameter": {"producerSubtask": last, "outputParameterKey": "digest"}
                    }
                },
            },
        },
        "outputDefinitions": {
            "artifacts": {
                "result": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}
            },
            "parameters": {"digest": {"parameterType": "STRING"}},
        },
    }
    document = {
        "pipelineInfo": {"name": "chaos"},
        "components": components,
        "deploymentSpec": {"executors": executors},
        "root": root,
        "schemaVersion": "2.1.0",
        "sdkVersion": "flow-chaos",
    }
    return yaml.safe_dump(document)


# -- what a run produced, from the store -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a finished run produced: per task, its output parameters and its artifacts' content digests."""

    state: str
    outputs: dict[str, Any]
    tasks: dict[str, tuple[dict[str, Any], dict[str, str]]]


def outcome(run_id: str) -> Outcome:
    with open_store() as store:
        record = store.run(run_id)
        digests: dict[str, dict[str, str]] = {}
        for art in store.artifacts(run_id):
            digests.setdefault(art.task_path, {})[art.name] = art.digest
        tasks = {t.path: (dict(t.outputs), digests.get(t.path, {})) for t in store.tasks(run_id)}
    return Outcome(record.state.value, dict(record.outputs.get("parameters") or {}), tasks)


def succeeded_tasks(run_id: str) -> dict[str, tuple[int, float | None]]:
    """(attempts, started_at) of each task the store records as succeeded."""
    with open_store() as store:
        return {
            t.path: (t.attempts, t.started_at) for t in store.tasks(run_id) if t.state == TaskState.SUCCEEDED
        }


def run_of_engine(pid: int) -> str:
    """The id of the run the `flow run` process `pid` drives, once it has recorded it ("" before)."""
    with open_store() as store:
        return next((r.run_id for r in store.runs(20) if r.engine_pid == pid), "")


# -- the runtime's view: containers or pods of a run ---------------------------------------------------------

# (name, task label) of every container or pod of a run that exists now. Names are made of (run, task,
# attempt), so a task run again shows as a new name.
Lister = Callable[[str], list[tuple[str, str]]]


def docker_lister() -> Lister:
    import docker

    client = docker.from_env()

    def tasks_of_run(run_id: str) -> list[tuple[str, str]]:
        found = client.api.containers(all=True, filters={"label": f"flow.run={run_id}"})
        return [(c["Names"][0].lstrip("/"), c["Labels"].get("flow.task", "")) for c in found]

    return tasks_of_run


def k8s_lister() -> Lister:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))

    def tasks_of_run(run_id: str) -> list[tuple[str, str]]:
        pods = api.list_namespaced_pod(NAMESPACE, label_selector=f"flow.run={run_id}", _request_timeout=15)
        return [(p.metadata.name, (p.metadata.labels or {}).get("flow.task", "")) for p in pods.items]

    return tasks_of_run


LISTERS: dict[str, Callable[[], Lister]] = {"docker": docker_lister, "k8s": k8s_lister}


class Watch:
    """Samples a run's containers or pods while a command runs: the tasks that got a new one (not among
    `existing`), and the most of one task at a time (a duplicate shows as 2)."""

    def __init__(self, lister: Lister, run_id: str, existing: set[str]) -> None:
        self.lister, self.run_id, self.existing = lister, run_id, existing
        self.started: set[str] = set()
        self.most_at_once = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.3):
            try:
                found = self.lister(self.run_id)
            except Exception as exc:  # the runtime's own errors: a sample missed, not a verdict on flow
                self.errors.append(str(exc))
                continue
            self.started |= {task for name, task in found if name not in self.existing}
            counts = Counter(task for _, task in found)
            self.most_at_once = max([self.most_at_once, *counts.values()])


# -- one kill ------------------------------------------------------------------------------------------------


@dataclass
class Trial:
    run_id: str = ""
    killed_after: int = 0  # tasks the store had recorded as succeeded when the engine was killed
    running_at_kill: int = 0  # containers or pods of the run the killed engine left
    identical: bool = False
    rerun: list[str] = field(default_factory=list)  # tasks recorded as succeeded that ran again
    left: int = 0  # containers or pods of the run after the resume
    duplicated: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def perfect(self) -> bool:
        return (
            self.identical and not self.rerun and not self.left and not self.duplicated and not self.problem
        )


def flow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner.cli.main", *args]


def flow_options(parallelism: int) -> list[str]:
    """Options of both `flow run` and `flow resume`: local test images, every task really run."""
    mapped = [arg for source, target in IMAGE_MAP.items() for arg in ("--image-map", f"{source}={target}")]
    return ["--pull", "never", *mapped, "--no-cache", "--parallelism", str(parallelism)]


def run_to_end(command: list[str], log: Path) -> int:
    with log.open("ab") as out:
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_SECONDS).returncode


@dataclass
class Session:
    """What every kill of one script run shares."""

    pipeline: Path
    log: Path  # where the output of every flow command goes
    options: list[str]  # flow_options()
    reference: Outcome


def kill_and_resume(session: Session, backend: str, run_options: list[str], seed: int) -> Trial:
    """Start `flow run`, SIGKILL it at a random moment, `flow resume` the run and check the result."""
    trial = Trial()
    rng = random.Random(seed)
    kill_when_done = rng.randrange(TASKS - 1)  # kill once this many tasks succeeded...
    jitter = rng.uniform(0.0, 1.5)  # ...and this many seconds later
    lister = LISTERS[backend]()
    command = flow_command("run", str(session.pipeline), "--backend", backend, *session.options, *run_options)
    with session.log.open("ab") as out:
        engine = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + RUN_SECONDS
        while engine.poll() is None and time.monotonic() < deadline:
            trial.run_id = trial.run_id or run_of_engine(engine.pid)
            if trial.run_id and len(succeeded_tasks(trial.run_id)) >= kill_when_done:
                break
            time.sleep(0.05)
        time.sleep(jitter)
        engine.send_signal(signal.SIGKILL)
        engine.wait()
    trial.run_id = trial.run_id or run_of_engine(engine.pid)
    if not trial.run_id:
        trial.problem = "the run never appeared in the store"
        return trial
    before = succeeded_tasks(trial.run_id)
    trial.killed_after = len(before)
    left_by_kill = {name for name, _ in lister(trial.run_id)}
    trial.running_at_kill = len(left_by_kill)
    with Watch(lister, trial.run_id, left_by_kill) as watch:
        code = run_to_end(flow_command("resume", trial.run_id, *session.options), session.log)
    if code != 0:
        trial.problem = f"flow resume exited with {code}"
    after = succeeded_tasks(trial.run_id)
    trial.rerun = sorted(
        path for path, seen in before.items() if after.get(path) != seen or path in watch.started
    )
    trial.left = len(lister(trial.run_id))
    if watch.most_at_once > 1:
        trial.duplicated = [f"{watch.most_at_once} at once of one task"]
    got = outcome(trial.run_id)
    trial.identical = got.outputs == session.reference.outputs and got.tasks == session.reference.tasks
    if got.state != RunState.SUCCEEDED:
        trial.problem = trial.problem or f"the resumed run ended {got.state}"
    return trial


def kill_and_resume_or_report(session: Session, backend: str, run_options: list[str], seed: int) -> Trial:
    """kill_and_resume; an error of the script's own (the runtime unreachable for a check) is the trial's
    problem, so the other trials still count."""
    try:
        return kill_and_resume(session, backend, run_options, seed)
    except Exception as exc:
        return Trial(problem=f"the check itself failed: {type(exc).__name__}: {exc}")


FULL_DISK_SIZE = "8m"


def full_disk_trial(work: Path, pipeline: Path, reference: Outcome) -> str:
    """Fill FLOW_HOME's disk once a few tasks succeeded, then free it; what went wrong, "" if nothing."""
    if os.geteuid() != 0:
        return "not run: mounting a small disk needs root"
    disk = work / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_DISK_SIZE}", "tmpfs", str(disk)], check=True)
    try:
        return _fill_and_resume(disk, pipeline, reference)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill_and_resume(disk: Path, pipeline: Path, reference: Outcome) -> str:
    env = {**os.environ, "FLOW_HOME": str(disk / "home")}
    root = ["--root", str(disk / "root")]
    command = flow_command("run", str(pipeline), "--backend", "process", "--no-cache", *root)
    engine = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    store_path = disk / "home" / "flow.db"
    deadline = time.monotonic() + RUN_SECONDS
    while engine.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(StoreError), SQLiteStore(store_path) as store:
            runs = store.runs(1)
            if runs and sum(t.state == TaskState.SUCCEEDED for t in store.tasks(runs[0].run_id)) >= 3:
                break
        time.sleep(0.1)
    with contextlib.suppress(OSError), (disk / "filler").open("wb") as filler:
        while True:  # until the disk is full
            filler.write(b"\0" * 65536)
            filler.flush()
    output, _ = engine.communicate(timeout=RUN_SECONDS)
    (disk / "filler").unlink()
    if engine.returncode == 0:
        return "the run succeeded on a full disk"
    if "Traceback" in output:
        return "a traceback on the full disk: " + output.strip().splitlines()[-1]
    subprocess.run(flow_command("runs"), env=env, capture_output=True, timeout=RUN_SECONDS)
    with SQLiteStore(store_path) as store:
        record = store.runs(1)[0]
    if record.state != RunState.FAILED:
        return f"after the next command the run is {record.state.value}, not FAILED"
    resumed = subprocess.run(
        flow_command("resume", record.run_id), env=env, capture_output=True, text=True, timeout=RUN_SECONDS
    )
    if resumed.returncode != 0:
        return f"flow resume exited with {resumed.returncode}: {resumed.stderr.strip()}"
    os.environ["FLOW_HOME"], previous = env["FLOW_HOME"], os.environ["FLOW_HOME"]
    try:
        got = outcome(record.run_id)
    finally:
        os.environ["FLOW_HOME"] = previous
    if got.outputs != reference.outputs or got.tasks != reference.tasks:
        return "outputs differ: " + differences(got, reference)
    return ""


def differences(got: Outcome, reference: Outcome) -> str:
    changed = sorted(path for path in reference.tasks if got.tasks.get(path) != reference.tasks[path])
    return ", ".join(changed) or "pipeline outputs"


# -- main ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=["docker", "k8s"], help="[default: docker]")
    parser.add_argument("--kills", type=int, help="kills per backend [default: 20 on docker, 5 on k8s]")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="for the sleeps and kill moments")
    parser.add_argument("--parallelism", type=int, default=4, help="tasks of a run at once [default: 4]")
    parser.add_argument("--at-once", type=int, default=3, help="kills going on at once [default: 3]")
    options = parser.parse_args()
    backends = options.backend or ["docker"]
    seeds = random.Random(options.seed)
    print(f"chaos: seed {options.seed}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="flow-chaos-"))
    os.environ["FLOW_HOME"] = str(work / "home")  # a store of its own, never the user's
    os.environ["KUBECONFIG"] = os.environ.get("KUBECONFIG") or KUBECONFIG
    pipeline = work / "chaos.yaml"
    pipeline.write_text(chaos_pipeline(options.seed))
    log = work / "flow.log"
    local = ["--root", str(work / "root")]
    flow_opts = flow_options(options.parallelism)

    code = run_to_end(flow_command("run", str(pipeline), "--backend", "docker", *flow_opts, *local), log)
    with open_store() as store:
        reference = outcome(store.runs(1)[0].run_id)
    if code != 0 or reference.state != RunState.SUCCEEDED:
        print(f"chaos: the uninterrupted run failed (exit {code}); see {log}", flush=True)
        return 1
    session = Session(pipeline, log, flow_opts, reference)

    perfect = True
    for backend in backends:
        kills = options.kills or (20 if backend == "docker" else 5)
        run_options = ["--namespace", NAMESPACE] if backend == "k8s" else local
        # Several kills at once: each is one run of its own, and a run mostly waits on its containers.
        with ThreadPoolExecutor(max_workers=options.at_once) as pool:
            one_kill = functools.partial(kill_and_resume_or_report, session, backend, run_options)
            trials = list(pool.map(one_kill, [seeds.randrange(1 << 32) for _ in range(kills)]))
        for number, trial in enumerate(trials, 1):
            if not trial.perfect:
                detail = trial.problem or ("outputs differ: " + differences(outcome(trial.run_id), reference))
                print(
                    f"  {backend} kill {number}: run {trial.run_id} killed after {trial.killed_after} tasks: "
                    f"{detail}; re-run {trial.rerun}; left {trial.left}; duplicated {trial.duplicated}",
                    flush=True,
                )
        identical = sum(t.identical and not t.problem for t in trials)
        rerun = sum(len(t.rerun) for t in trials)
        left = sum(t.left for t in trials)
        duplicated = sum(len(t.duplicated) for t in trials)
        kind = "pods" if backend == "k8s" else "containers"
        print(
            f"{backend}: {identical}/{kills} resumed runs identical, {rerun} succeeded tasks re-run, "
            f"{left} {kind} left" + (f", {duplicated} duplicated" if duplicated else ""),
            flush=True,
        )
        landed = sorted(t.killed_after for t in trials)
        mid_task = sum(1 for t in trials if t.running_at_kill)
        print(
            f"  kills landed after {landed} succeeded tasks; {mid_task}/{kills} left {kind} behind",
            flush=True,
        )
        perfect &= all(t.perfect for t in trials)
    problem = full_disk_trial(work, pipeline, reference)
    print(f"full disk: {problem or 'one-line error, run recorded FAILED, resumed identical'}", flush=True)
    perfect &= not problem
    print(f"chaos: flow's output is in {log}", flush=True)
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return 1 if in_ci and not perfect else 0


if __name__ == "__main__":
    sys.exit(main())
