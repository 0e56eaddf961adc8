"""Components that misbehave, on the process and docker backends: killed from outside, malformed or escaping
outputs, huge values, bytes that are not UTF-8. Each ends in a recorded outcome with a one-line reason, never
a crash of flow. (Malformed IR is fuzzed in tests/unit/test_fuzz_ir.py; the engine's side of malformed
executor output in tests/unit/test_engine.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

import runner.api
from roots import kinds
from roots.beneath import RefusedFile
from roots.files import folder_digest
from roots.local import files as local_files
from runner import RunResult, run
from runner.api import open_store
from runner.store import RunRecord, RunState, TaskState
from runner.testing.shellsteps import Step, pipeline
from runner.ui.files import RootReader
from runner.ui.security import PathRefused
from tests.conftest import (
    TEST_IMAGE_MAP,
    TEST_NAMESPACE,
    cluster_options,
    docker_containers,
    flow_kubeconfig,
    make_backend,
    require_cluster,
    require_docker,
)

WAIT_SECONDS = 60
HUGE = 1_000_000
# Holds the task until the test kills it; after the kill, a second attempt finds `killed` and succeeds.
HOLD = (
    'if [ -f "{{$.pipeline_root}}/killed" ]; then echo second attempt; exit 0; fi; '
    'echo $$ > "{{$.pipeline_root}}/pid"; sleep 120'
)


def with_outputs(
    text: str, task: str, *, parameters: tuple[str, ...] = (), artifacts: tuple[str, ...] = ()
) -> str:
    """The pipeline with outputs declared on `task`'s component, their paths passed to its script as
    $0, $1... (parameters first), and its executor output file as the last."""
    doc = yaml.safe_load(text)
    outputs: dict[str, Any] = {}
    if parameters:
        outputs["parameters"] = {name: {"parameterType": "STRING"} for name in parameters}
    if artifacts:
        kind = {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}
        outputs["artifacts"] = {name: {"artifactType": kind} for name in artifacts}
    doc["components"][f"comp-{task}"]["outputDefinitions"] = outputs
    doc["deploymentSpec"]["executors"][f"exec-{task}"]["container"]["command"] += [
        *(f"{{{{$.outputs.parameters['{name}'].output_file}}}}" for name in parameters),
        *(f"{{{{$.outputs.artifacts['{name}'].path}}}}" for name in artifacts),
        "{{$.outputs.output_file}}",
    ]
    return str(yaml.safe_dump(doc))


def run_on(
    backend_name: str, text: str, root: Path, root_override: str | None = None, **kwargs: Any
) -> RunResult:
    """A run on the backend; on a cluster the root is the test claim, not `root`; `root_override` (an s3://
    root) for any backend."""
    backend = make_backend(backend_name)
    chosen: str | Path | None = None if backend_name == "k8s" else root
    try:
        return run(text, backend=backend, root=root_override or chosen, **kwargs)
    finally:
        backend.close()


@pytest.fixture(params=["process", "docker", "k8s"])
def every_backend(request: pytest.FixtureRequest) -> str:
    """The local backends and a cluster, for what a task hands back through each kind of root."""
    name: str = request.param
    if name == "docker":
        require_docker()
    if name == "k8s":
        require_cluster()
    return name


def backend_options(backend_name: str) -> dict[str, Any]:
    """What `make_backend` gives a backend, for the commands that make their own (resume, download)."""
    if backend_name == "k8s":
        return cluster_options()
    return {"image_map": TEST_IMAGE_MAP, "pull": "never"} if backend_name == "docker" else {}


def left_running(backend_name: str, run_id: str) -> list[str]:
    """The run's containers or pods still there after it ended (none may be)."""
    if backend_name == "docker":
        return docker_containers(run_id)
    if backend_name == "k8s":
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config

        core = k8s_client.CoreV1Api(k8s_config.new_client_from_config(config_file=flow_kubeconfig()))
        pods = core.list_namespaced_pod(TEST_NAMESPACE, label_selector=f"flow.run={run_id}").items
        return [pod.metadata.name for pod in pods]
    return []


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


# -- killed from outside -------------------------------------------------------------------------------------


def kill_from_outside(backend_name: str, root: Path, run_id: str) -> None:
    """Once the held task runs, let its next attempt through and SIGKILL it as `docker kill` or `kill -9`."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (root / "pid").exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.1)
    (root / "killed").write_text("")
    if backend_name == "docker":
        # The daemon lists a container as running only after its process has started, so the pid file
        # can come first: under load the listing may still be empty for a while.
        while not (running := docker_containers(run_id, running_only=True)):
            assert time.monotonic() < deadline, "the task's container was never listed as running"
            time.sleep(0.1)
        (container,) = running
        client = docker.from_env()
        try:
            client.api.kill(container)
        finally:
            client.close()
    else:
        os.kill(int((root / "pid").read_text()), signal.SIGKILL)


def run_killing_from_outside(backend_name: str, root: Path, retries: int) -> RunResult:
    started: list[RunRecord] = []
    ready = threading.Event()

    def on_start(record: RunRecord) -> None:
        started.append(record)
        ready.set()

    def killer() -> None:
        ready.wait(WAIT_SECONDS)
        kill_from_outside(backend_name, root, started[0].run_id)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        return run_on(backend_name, pipeline({"hold": Step(HOLD, retries=retries)}), root, on_start=on_start)
    finally:
        thread.join()


def test_a_task_killed_from_outside_fails_with_the_reason(backend_name: str, tmp_path: Path) -> None:
    result = run_killing_from_outside(backend_name, tmp_path / "root", retries=0)
    assert result.state == RunState.FAILED
    task = result.tasks["hold"]
    assert task.state == TaskState.FAILED and task.attempts == 1
    assert "killed by SIGKILL" in task.error


def test_a_task_killed_from_outside_is_retried_per_its_policy(backend_name: str, tmp_path: Path) -> None:
    result = run_killing_from_outside(backend_name, tmp_path / "root", retries=1)
    assert result.succeeded, result.error
    task = result.tasks["hold"]
    assert task.attempts == 2
    assert "second attempt" in task.log()


# -- what a component reports --------------------------------------------------------------------------------


def test_malformed_executor_output_fails_the_task_with_a_one_line_reason(
    backend_name: str, tmp_path: Path
) -> None:
    text = with_outputs(pipeline({"bad": Step('echo "{not json" > "$1"')}), "bad", parameters=("n",))
    result = run_on(backend_name, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    error = result.tasks["bad"].error
    assert one_line(error), error
    assert "malformed executor_output.json" in error


@pytest.mark.parametrize("uri", ["/etc/passwd", "../../x", "/flow/../etc/passwd"])
def test_an_output_artifact_reported_outside_the_root_is_refused(
    backend_name: str, uri: str, tmp_path: Path
) -> None:
    reported = {"artifacts": {"data": {"artifacts": [{"name": "data", "uri": uri, "metadata": {}}]}}}
    script = f'echo made > "$0"; echo \'{json.dumps(reported)}\' > "$1"'
    steps = {"escape": Step(script), "use": Step("echo never", after=("escape",))}
    text = with_outputs(pipeline(steps), "escape", artifacts=("data",))
    result = run_on(backend_name, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    task = result.tasks["escape"]
    assert one_line(task.error), task.error
    assert "outside the pipeline root" in task.error
    assert task.artifacts == {}  # nothing recorded that points outside
    assert result.tasks["use"].state == TaskState.SKIPPED_UPSTREAM_FAILED


@pytest.mark.parametrize("name", ["../x", "a/b", ".."])
@pytest.mark.parametrize("kind", ["parameters", "artifacts"])
def test_output_names_that_are_paths_are_refused_at_load(name: str, kind: str, tmp_path: Path) -> None:
    text = with_outputs(pipeline({"step": Step("true")}), "step", **{kind: ("ok",)})
    text = text.replace("ok:", f"'{name}':").replace("['ok']", f"['{name}']")
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    command = [sys.executable, "-m", "runner.cli.main", "run", str(path), "--backend", "process"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"output name {name!r} is not a safe path segment" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir())


def test_a_huge_parameter_value_passes_or_fails_cleanly(backend_name: str, tmp_path: Path) -> None:
    steps = {
        "make": Step(f"head -c {HUGE} /dev/zero | tr '\\0' a > \"$0\""),
        # Over Linux's limit of one argument (128 KiB): the task may not start, but flow must say why.
        "use": Step('echo "${#0}"', after=("make",)),
    }
    doc = yaml.safe_load(with_outputs(pipeline(steps), "make", parameters=("s",)))
    doc["components"]["comp-use"]["inputDefinitions"] = {"parameters": {"s": {"parameterType": "STRING"}}}
    doc["root"]["dag"]["tasks"]["use"]["inputs"] = {
        "parameters": {"s": {"taskOutputParameter": {"producerTask": "make", "outputParameterKey": "s"}}}
    }
    doc["deploymentSpec"]["executors"]["exec-use"]["container"]["command"].append(
        "{{$.inputs.parameters['s']}}"
    )
    result = run_on(backend_name, yaml.safe_dump(doc), tmp_path / "root")
    assert result.tasks["make"].state == TaskState.SUCCEEDED
    assert result.tasks["make"].outputs["s"] == "a" * HUGE
    use = result.tasks["use"]
    if use.state == TaskState.SUCCEEDED:
        assert use.log().strip() == str(HUGE)
    else:
        assert result.state == RunState.FAILED and use.state == TaskState.FAILED
        assert use.error and "Traceback" not in use.error


def test_bytes_not_utf8_are_kept_in_logs_and_shown_replaced(backend_name: str, tmp_path: Path) -> None:
    result = run_on(
        backend_name, pipeline({"chatty": Step("printf 'before \\377\\376 after\\n'")}), tmp_path / "root"
    )
    assert result.succeeded, result.error
    assert b"before \xff\xfe after" in Path(result.tasks["chatty"].log_path).read_bytes()
    command = [sys.executable, "-m", "runner.cli.main", "logs", result.run_id, "chatty"]
    shown = subprocess.run(command, capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "before \ufffd\ufffd after" in shown.stdout.decode("utf-8")


# -- links and special files where the outputs go ------------------------------------------------------------

SECRET = "flow-test-secret-5f0c"


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of the engine's machine, outside the root, holding the secret where a link could lead the
    engine (as `step/p` and `secret.txt`); the secret is in the engine's environment as well. (On a cluster
    the links lead into the volume helper's own files, where the folder is not.)"""
    monkeypatch.setenv("FLOW_TEST_SECRET", SECRET)
    folder = tmp_path / "host"
    (folder / "step").mkdir(parents=True)
    (folder / "step" / "p").write_text(SECRET)
    (folder / "secret.txt").write_text(SECRET)
    return folder


def leaks(result: RunResult) -> bool:
    """Whether the secret reached anything flow recorded or shows of the run."""
    with open_store() as store:
        recorded = [store.run(result.run_id), store.tasks(result.run_id), store.artifacts(result.run_id)]
    return SECRET in repr(recorded) or SECRET in repr(result)


# (what the task does, with $0 its parameter's path and $1 its artifact's; what the error says)
ESCAPES = {
    "parameter linked to the engine's environment": ('ln -s /proc/self/environ "$0"', "is a symbolic link"),
    "parameter linked to a host file": ('ln -s {host}/secret.txt "$0"', "is a symbolic link"),
    "parameter a FIFO": ('mkfifo "$0"', "is not a regular file"),
    "artifact linked to a host file": ('echo x > "$0"; ln -s {host}/secret.txt "$1"', "is a symbolic link"),
    "artifact linked to a host folder": ('echo x > "$0"; ln -s /usr/share "$1"', "is a symbolic link"),
    "output folder replaced by a link": (
        'd=$(dirname "$0"); rm -rf "$d"; ln -s {host}/step "$d"',
        "is a symbolic link",
    ),
    "run folder replaced by a link": (
        'r=$(dirname "$(dirname "$0")"); mv "$r" "$r.moved"; ln -s {host} "$r"',
        "is a symbolic link",
    ),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_outputs_are_read_without_following_links(
    every_backend: str, case: str, host: Path, tmp_path: Path
) -> None:
    script, problem = ESCAPES[case]
    steps = {"step": Step(script.format(host=host)), "use": Step("echo never", after=("step",))}
    text = with_outputs(pipeline(steps), "step", parameters=("p",), artifacts=("a",))
    result = run_on(every_backend, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    task = result.tasks["step"]
    assert task.state == TaskState.FAILED
    assert one_line(task.error) and problem in task.error, task.error
    assert task.artifacts == {} and task.outputs == {}
    assert not leaks(result)
    assert result.tasks["use"].state == TaskState.SKIPPED_UPSTREAM_FAILED
    assert left_running(every_backend, result.run_id) == []


def test_links_inside_an_output_folder_are_left_out_of_digests_previews_and_downloads(
    every_backend: str, host: Path, tmp_path: Path
) -> None:
    script = (
        'mkdir -p "$0/sub"; echo kept > "$0/kept.txt"; echo deeper > "$0/sub/deeper.txt"; '
        f'ln -s {host}/secret.txt "$0/secret"; ln -s /proc/self/environ "$0/sub/environ"; '
        f'ln -s {host} "$0/hostdir"; ln -s /usr/share "$0/share"; mkfifo "$0/fifo"'
    )
    text = with_outputs(pipeline({"step": Step(script)}), "step", artifacts=("a",))
    result = run_on(every_backend, text, tmp_path / "root")
    assert result.succeeded, result.error
    artifact = result.tasks["step"].artifacts["a"]
    files = [("kept.txt", b"kept\n"), ("sub/deeper.txt", b"deeper\n")]
    assert artifact.size == sum(len(data) for _, data in files)
    assert artifact.digest == folder_digest(
        [(name, hashlib.sha256(data).hexdigest()) for name, data in files]
    )
    assert not leaks(result)

    with open_store() as store:
        run_record = store.run(result.run_id)
    copied = tmp_path / "download"
    assert runner.api.download(run_record, copied, backend_options(every_backend)) == 2
    names = sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if not p.is_dir())
    assert names == [f"step/a/{name}" for name, _ in files]

    folder = f"{result.run_id}/step/a"
    refused = ("secret", "sub/environ", "hostdir/secret.txt", "fifo")
    if every_backend == "k8s":  # read through the volume helper, as the UI reads a cluster's root
        backend = make_backend("k8s")
        try:
            volume = kinds.view(backend, result.root).files()
            for name in refused:
                with pytest.raises(RefusedFile):
                    volume.read([f"{folder}/{name}"])
            assert volume.read([f"{folder}/kept.txt"]) == {f"{folder}/kept.txt": b"kept\n"}
        finally:
            backend.close()
        return
    roots = RootReader()
    assert roots.folder(run_record, folder, 10) == (
        [(f"{folder}/{name}", len(data)) for name, data in files],
        False,
    )
    for name in refused:
        with pytest.raises(PathRefused):
            roots.read(run_record, f"{folder}/{name}")
    assert roots.read(run_record, f"{folder}/kept.txt") == (b"kept\n", 5)


# -- malformed executor output: the task fails, the run ends, and it resumes ---------------------------------

BAD_EXECUTOR_OUTPUTS = {
    "wrong types": json.dumps({"artifacts": {"a": {"artifacts": [{"uri": 5, "metadata": [1, 2]}]}}}),
    "nested 30,000 deep": "[" * 30_000 + "]" * 30_000,
}


@pytest.mark.parametrize("case", list(BAD_EXECUTOR_OUTPUTS))
def test_a_malformed_executor_output_fails_the_task_and_the_run_resumes(
    every_backend: str, case: str, tmp_path: Path
) -> None:
    # The first attempt writes the bad file, and a mark in the root; the next (the resumed run's) a good one.
    mark = '"{{$.pipeline_root}}/{{$.pipeline_job_uuid}}.tried"'
    script = (
        f'echo made > "$0"; if [ ! -f {mark} ]; then touch {mark}; '
        f"printf '%s' '{BAD_EXECUTOR_OUTPUTS[case]}' > \"$1\"; fi"
    )
    text = with_outputs(pipeline({"step": Step(script)}), "step", artifacts=("a",))
    result = run_on(every_backend, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    error = result.tasks["step"].error
    assert one_line(error) and "malformed executor_output.json" in error, error
    assert left_running(every_backend, result.run_id) == []
    resumed = runner.api.resume(result.run_id, backend_options=backend_options(every_backend))
    assert resumed.succeeded, resumed.error
    assert resumed.tasks["step"].artifacts["a"].size == len("made\n")


# -- size limits -------------------------------------------------------------------------------------------


def test_an_output_parameter_over_the_limit_fails_the_task(
    every_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def making(size: int) -> str:
        step = Step(f"head -c {size} /dev/zero | tr '\\0' a > \"$0\"")
        return with_outputs(pipeline({"make": step}), "make", parameters=("s",))

    # Over the limit, and over the executor output's as well (refused before it is read).
    for big in (2 << 20, 20 << 20):
        result = run_on(every_backend, making(big), tmp_path / "root")
        assert result.state == RunState.FAILED
        error = result.tasks["make"].error
        assert one_line(error), error
        assert f"output parameter 's' is {big} bytes, over the limit of {1 << 20}" in error
        with open_store() as store:
            assert len(repr(store.tasks(result.run_id))) < 100_000  # nothing of the value was stored

    # flow.yaml raises the limit
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.yaml").write_text("max_parameter_size: 4Mi\n")
    result = run_on(every_backend, making(2 << 20), tmp_path / "root")
    assert result.succeeded, result.error
    assert len(result.tasks["make"].outputs["s"]) == 2 << 20


def test_an_executor_output_over_its_limit_fails_the_task(every_backend: str, tmp_path: Path) -> None:
    over = 16 * (1 << 20) + 1
    script = f'echo x > "$0"; head -c {over} /dev/zero | tr "\\0" " " > "$1"'
    text = with_outputs(pipeline({"step": Step(script)}), "step", parameters=("p",))
    result = run_on(every_backend, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    error = result.tasks["step"].error
    assert one_line(error) and f"executor_output.json is {over} bytes, over the limit of" in error, error


def test_an_output_folder_of_too_many_files_fails_the_task_and_is_previewed_in_part(
    backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_files, "MAX_FOLDER_FILES", 20)
    script = 'mkdir "$0"; i=0; while [ $i -lt 21 ]; do echo $i > "$0/f$i"; i=$((i+1)); done'
    text = with_outputs(pipeline({"step": Step(script)}), "step", artifacts=("a",))
    result = run_on(backend_name, text, tmp_path / "root")
    assert result.state == RunState.FAILED
    error = result.tasks["step"].error
    assert one_line(error) and "step/a holds more than 20 files" in error, error
    with open_store() as store:
        record = store.run(result.run_id)
    # The preview walks no further than it shows, whatever the folder holds.
    written = {(f"{result.run_id}/step/a/f{i}", len(f"{i}\n")) for i in range(21)}
    listing = RootReader().folder(record, f"{result.run_id}/step/a", 10)
    assert listing is not None
    files, more = listing
    assert more and len(files) == 10 and set(files) <= written and files == sorted(files)


def test_flow_logs_streams_a_huge_log(tmp_path: Path) -> None:
    """`flow logs` of a 256 MB log (one line without end) holds a few chunks in memory, not the log."""
    size = 256 << 20
    text = pipeline({"chatty": Step(f"head -c {size} /dev/zero | tr '\\0' a"), "quiet": Step("echo hi")})
    result = run_on("process", text, tmp_path / "root")
    assert result.succeeded, result.error

    def peak_kib(task: str) -> int:
        # The command's own peak memory, its output to /dev/null.
        program = (
            "import resource, sys\n"
            "from runner.cli.main import main\n"
            "try:\n"
            f"    main(['logs', {result.run_id!r}, {task!r}])\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", program], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300
        )
        return int(done.stderr.decode().strip().splitlines()[-1])

    assert peak_kib("chatty") - peak_kib("quiet") < 64 << 10  # KiB: far less than the log


# -- an s3:// root: what is staged out of the task's folder -------------------------------------------------

# The output folder replaced by a link to a host folder; links inside the artifact folder.
S3_ESCAPE = 'd=$(dirname "$0"); rm -rf "$d"; ln -s {host}/step "$d"'
S3_LINKS_INSIDE = (
    'echo x > "$0"; mkdir "$1"; echo kept > "$1/kept.txt"; ln -s {host}/secret.txt "$1/secret"; '
    'ln -s /proc/self/environ "$1/environ"; ln -s {host} "$1/hostdir"'
)


def test_staging_to_s3_follows_no_link(backend_name: str, s3_root: str, host: Path, tmp_path: Path) -> None:
    from tests.integration.test_s3_root import bucket_objects

    text = with_outputs(
        pipeline({"step": Step(S3_LINKS_INSIDE.format(host=host))}),
        "step",
        parameters=("p",),
        artifacts=("a",),
    )
    kept = run_on(backend_name, text, tmp_path / "unused", root_override=s3_root)
    assert kept.succeeded, kept.error
    stored = bucket_objects(s3_root, kept.run_id)
    assert sorted(stored) == [f"{kept.run_id}/step/a/kept.txt", f"{kept.run_id}/step/p"]
    assert kept.tasks["step"].artifacts["a"].size == len("kept\n")

    text = with_outputs(
        pipeline({"step": Step(S3_ESCAPE.format(host=host))}), "step", parameters=("p",), artifacts=("a",)
    )
    escaped = run_on(backend_name, text, tmp_path / "unused", root_override=s3_root)
    assert escaped.state == RunState.FAILED
    error = escaped.tasks["step"].error
    assert one_line(error) and "staging the task's outputs out" in error and "symbolic link" in error, error
    assert bucket_objects(s3_root, escaped.run_id) == {}
    assert not leaks(escaped) and not leaks(kept)
