"""An s3:// pipeline root on the local backends, against the real S3-compatible server scripts/s3-up.sh
starts: tasks read and write plain files (KFP's /s3/ convention), the bucket holds what they produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from kfp import compiler

from backends.base import Backend
from backends.process import ProcessBackend
from roots import kinds
from roots.s3 import S3Root
from runner import run
from runner.api import open_store
from runner.store import RunState, TaskState
from runner.testing.conformance import WIRING
from runner.testing.shellsteps import Step, pipeline
from tests.conftest import IMAGE_MAP_ARGS, S3_ENV, require_docker
from tests.integration import kfp_pipelines, s3_pipelines


def bucket_objects(root: str, run_id: str) -> dict[str, bytes]:
    """Every object of the run under the root, by its path relative to the root, read straight from S3."""
    parsed = S3Root.parse(root)
    client = boto3.session.Session().client("s3")
    listed = client.list_objects_v2(Bucket=parsed.bucket, Prefix=f"{parsed.prefix}/{run_id}/")
    return {
        item["Key"][len(parsed.prefix) + 1 :]: client.get_object(Bucket=parsed.bucket, Key=item["Key"])[
            "Body"
        ].read()
        for item in listed.get("Contents", [])
        if not item["Key"].endswith("/")
    }


def with_output(ir: str, task: str, name: str) -> str:
    """The shell-step pipeline `ir` with a STRING output parameter `name` declared for `task`."""
    document = yaml.safe_load(ir)
    document["components"][f"comp-{task}"]["outputDefinitions"] = {
        "parameters": {name: {"parameterType": "STRING"}}
    }
    return str(yaml.safe_dump(document))


def test_a_kfp_pipeline_with_file_folder_and_imported_artifacts(
    backend: Backend, s3_root: str, tmp_path: Path
) -> None:
    spec = tmp_path / "s3.yaml"
    compiler.Compiler().compile(s3_pipelines.s3_artifacts, package_path=str(spec))
    notes = tmp_path / "notes.txt"
    notes.write_text("imported note\n")

    result = run(spec, backend=backend, params={"n": 3, "notes_uri": str(notes)}, root=s3_root)

    assert result.state == RunState.SUCCEEDED, result.error
    assert result.root == s3_root
    summary = result.outputs["Output"]
    assert summary.startswith("3 rows (3), ") and summary.endswith(
        "['config.json', 'weights/layer-0'], imported note"
    ), summary
    if backend.name == "docker":  # in a container the URI is the object's; the process backend has no /s3
        assert summary.startswith("3 rows (3), s3, "), summary
    stored = bucket_objects(s3_root, result.run_id)
    assert stored[f"{result.run_id}/write-rows/table"] == b"row-0\nrow-1\nrow-2\n"
    assert stored[f"{result.run_id}/write-rows/model/weights/layer-0"] == b"w0"
    # A file of this machine is read where it is (in a container, mounted at its path): never uploaded.
    assert result.tasks["importer"].artifacts["artifact"].uri == str(notes)
    assert not [key for key in stored if "importer" in key or ".imports" in key]
    table = result.tasks["write-rows"].artifacts["table"]
    assert table.uri == f"{result.run_id}/write-rows/table" and table.metadata == {"rows": 3}
    assert table.size == len(b"row-0\nrow-1\nrow-2\n")


def test_an_importer_takes_an_object_under_the_root_in_place(
    backend: Backend, s3_root: str, tmp_path: Path
) -> None:
    first = run(WIRING, backend="process", params={"n": 2}, root=s3_root)
    assert first.succeeded, first.error
    uri = f"{s3_root}/{first.tasks['produce'].artifacts['table'].uri}"
    spec = tmp_path / "importing.yaml"
    compiler.Compiler().compile(kfp_pipelines.importing, package_path=str(spec))

    result = run(spec, backend=backend, params={"uri": uri}, root=s3_root)

    assert result.succeeded, result.error
    assert result.outputs["Output"] == "1\n2\n|test-data"
    assert result.tasks["importer"].artifacts["artifact"].uri == f"{first.run_id}/produce/table"


def test_the_process_backend_removes_what_it_staged_when_a_run_ends(s3_root: str) -> None:
    backend = ProcessBackend()
    staged = Path(kinds.view(backend, s3_root).path)
    # The consumer reads the producer's table from the staged folder, which is gone once the run ended.
    result = run(WIRING, backend=backend, params={"n": 2}, root=s3_root)

    assert result.tasks["consume"].outputs == {"summary": "2 rows, doubled 4"}
    assert not staged.exists() and not staged.parent.parent.exists()
    backend.close()


def test_only_a_successful_attempt_uploads_its_outputs(backend: Backend, s3_root: str) -> None:
    writes_then_fails = Step("echo partial > \"{{$.outputs.parameters['out'].output_file}}\"; exit 4")
    ir = with_output(pipeline({"half": writes_then_fails}), "half", "out")

    result = run(ir, backend=backend, root=s3_root)

    assert result.state == RunState.FAILED and result.tasks["half"].state == TaskState.FAILED
    assert bucket_objects(s3_root, result.run_id) == {}


def test_symbolic_links_a_task_leaves_are_not_uploaded(backend: Backend, s3_root: str) -> None:
    # On Docker the upload runs on the host: a link to a host file must not carry that file out.
    out = "{{$.outputs.parameters['out'].output_file}}"
    script = f'd=$(dirname "{out}"); echo fine > "{out}"; ln -s /etc/hostname "$d/leak"; ln -s / "$d/all"'
    ir = with_output(pipeline({"links": Step(script)}), "links", "out")

    result = run(ir, backend=backend, root=s3_root)

    assert result.succeeded, result.error
    assert bucket_objects(s3_root, result.run_id) == {f"{result.run_id}/links/out": b"fine\n"}


def test_flow_artifacts_download_copies_a_run_out_of_the_bucket(s3_root: str, tmp_path: Path) -> None:
    require_docker()
    spec = tmp_path / "wiring.yaml"
    spec.write_text(WIRING)
    done = _flow("run", str(spec), "--backend", "docker", *IMAGE_MAP_ARGS, "--root", s3_root, "-p", "n=3")
    assert done.returncode == 0, done.stderr
    assert f"outputs are in {s3_root} under" in done.stdout
    run_id = done.stdout.split("run ", 1)[1].split(":", 1)[0]
    assert json.loads(_flow("show", run_id, "-o", "json").stdout)["root"] == s3_root

    target = tmp_path / "downloaded"
    copied = _flow("artifacts", run_id, "--download", str(target))

    assert copied.returncode == 0, copied.stderr
    assert f"from {s3_root}" in copied.stdout
    assert (target / "produce/table").read_text().split() == ["1", "2", "3"]
    assert (target / "consume/summary").read_text() == "3 rows, doubled 6"

    removed = _flow("rm", run_id)  # its objects go from the bucket
    assert removed.returncode == 0 and not removed.stderr, removed.stderr
    assert bucket_objects(s3_root, run_id) == {}


def test_flow_resume_finds_an_s3_run_again_and_reruns_only_what_failed(s3_root: str, tmp_path: Path) -> None:
    flag = tmp_path / "failed-once"
    steps = {
        "first": Step("echo first > \"{{$.outputs.parameters['out'].output_file}}\""),
        "second": Step(f"[ -f {flag} ] || {{ touch {flag}; exit 1; }}", after=("first",)),
    }
    spec = tmp_path / "p.yaml"
    spec.write_text(with_output(pipeline(steps), "first", "out"))
    failed = _flow("run", str(spec), "--backend", "process", "--root", s3_root)
    assert failed.returncode == 1, failed.stderr
    run_id = failed.stdout.split("run ", 1)[1].split(":", 1)[0]

    resumed = _flow("resume", run_id)

    assert resumed.returncode == 0, resumed.stderr
    shown = json.loads(_flow("show", run_id, "-o", "json").stdout)
    attempts = {task["path"]: task["attempts"] for task in shown["tasks"]}
    assert shown["root"] == s3_root and attempts == {"first": 1, "second": 2}
    assert bucket_objects(s3_root, run_id)[f"{run_id}/first/out"] == b"first\n"


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("s3://", "names no bucket"),
        ("s3://no-such-bucket-flow/x", "the bucket does not exist"),
        ("s3://flow-tests/a//b", "has an empty, '.' or '..' part"),
        ("s3://Bad_Bucket/x", "is not a valid S3 bucket name"),
    ],
)
def test_a_bad_s3_root_is_a_one_line_error_and_nothing_starts(
    root: str, expected: str, s3_root: str, tmp_path: Path
) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(pipeline({"never": Step("echo never")}))
    done = _flow("run", str(spec), "--backend", "process", "--root", root)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "--root" in lines[0], done.stderr
    assert "run " not in done.stdout
    with open_store() as store:
        assert store.runs(5) == []


def test_an_unreachable_s3_endpoint_is_a_one_line_error(s3_root: str, tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(pipeline({"never": Step("echo never")}))
    done = _flow(
        "run",
        str(spec),
        "--backend",
        "process",
        "--root",
        s3_root,
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "the S3 endpoint does not answer" in lines[0], done.stderr


def _flow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **S3_ENV, **(env or {})},
        timeout=300,
    )


def test_the_run_summary_gives_pipeline_artifacts_their_s3_address(s3_root: str) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "iris" / "pipeline.yaml"
    done = _flow("run", str(example), "--backend", "process", "--root", s3_root)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split("run ", 1)[1].split(":", 1)[0]
    assert f"  artifact metrics: {s3_root}/{run_id}/evaluate/metrics\n" in done.stdout
