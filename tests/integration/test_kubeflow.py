"""`flow run --kubeflow URL`, against a stand-in of the Kubeflow Pipelines v2beta1 API.

STAND-IN, NOT A REAL SERVER: no Kubeflow Pipelines API server can run on these machines (see
tests/integration/kubeflow_api.py); the stand-in checks requests against kfp's own API models and protos.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runner.errors import UsageError
from runner.kubeflow_client import KubeflowClient, KubeflowError, run_body
from runner.spec import load_file
from tests.integration.kubeflow_api import KubeflowStandIn, serve

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "examples" / "iris" / "pipeline.yaml"
CORPUS = HERE.parents[2] / "shared" / "kfp-corpus"


@pytest.fixture
def kubeflow() -> Iterator[KubeflowStandIn]:
    stand_in = KubeflowStandIn()
    server = serve(stand_in)
    yield stand_in
    server.shutdown()
    server.server_close()


def flow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_run_goes_to_the_server_with_its_typed_parameters_and_is_followed_to_success(
    kubeflow: KubeflowStandIn,
) -> None:
    done = flow("run", str(EXAMPLE), "--kubeflow", kubeflow.url, "-p", "seed=7", "-p", "model_type=tree")
    assert done.returncode == 0, done.stdout + done.stderr
    (run_id,) = kubeflow.runs
    assert f"{kubeflow.url}/#/runs/details/{run_id}" in done.stdout
    assert [line.split(": ")[-1] for line in done.stdout.splitlines()[1:]] == ["RUNNING", "SUCCEEDED"]
    body = kubeflow.runs[run_id].body
    assert body["runtime_config"]["parameters"]["seed"] == 7  # typed as the pipeline declares it
    assert body["runtime_config"]["parameters"]["model_type"] == "tree"
    assert body["pipeline_spec"] == yaml.safe_load(EXAMPLE.read_text())
    assert body["display_name"].startswith("iris-classifier ")


def test_a_failed_run_exits_1_with_the_servers_error(kubeflow: KubeflowStandIn) -> None:
    kubeflow.outcome = "FAILED"
    done = flow("run", str(EXAMPLE), "--kubeflow", kubeflow.url)
    assert done.returncode == 1
    assert "FAILED: task train failed" in done.stdout


def test_the_platform_document_travels_beside_the_pipeline(kubeflow: KubeflowStandIn, tmp_path: Path) -> None:
    pipeline = EXAMPLE.read_text()
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {}}}}}
    (tmp_path / "with-platform.yaml").write_text(pipeline + "---\n" + yaml.safe_dump(platform))
    spec = load_file(tmp_path / "with-platform.yaml")
    client = KubeflowClient(kubeflow.url)
    created = client.create(run_body(spec, {"seed": 1}, "s3://bucket/runs"))
    client.close()
    body = kubeflow.runs[created.run_id].body
    assert body["pipeline_spec"]["platform_spec"] == platform
    assert body["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "iris-classifier"
    assert body["runtime_config"]["pipeline_root"] == "s3://bucket/runs"


@pytest.mark.corpus
def test_kfp_compiled_pipelines_are_accepted_unchanged(kubeflow: KubeflowStandIn) -> None:
    files = sorted((CORPUS / "pipelines").glob("*.yaml"))
    assert files, f"no pipelines under {CORPUS}"
    client = KubeflowClient(kubeflow.url)
    for path in files:
        created = client.create(run_body(load_file(path), {}, None))
        assert kubeflow.runs[created.run_id].body["pipeline_spec"], path
    client.close()


def test_ctrl_c_terminates_the_run_on_the_server(kubeflow: KubeflowStandIn) -> None:
    kubeflow.outcome = "RUNNING"  # a run that does not end by itself
    command = [sys.executable, "-m", "runner.cli.main", "run", str(EXAMPLE), "--kubeflow", kubeflow.url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not kubeflow.runs or kubeflow.runs[next(iter(kubeflow.runs))].state != "RUNNING":
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert kubeflow.terminated == list(kubeflow.runs)


def test_a_token_is_sent_as_a_bearer_token(kubeflow: KubeflowStandIn, tmp_path: Path) -> None:
    kubeflow.token = "s3cret"
    refused = flow("run", str(EXAMPLE), "--kubeflow", kubeflow.url)
    assert refused.returncode == 1 and "HTTP 401: request is not authenticated" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    (tmp_path / "token").write_text("s3cret\n")
    accepted = flow(
        "run",
        str(EXAMPLE),
        "--kubeflow",
        kubeflow.url,
        env={"KF_PIPELINES_SA_TOKEN_PATH": str(tmp_path / "token")},
    )
    assert accepted.returncode == 0, accepted.stderr


def test_bad_input_is_one_line_and_nothing_is_submitted(kubeflow: KubeflowStandIn) -> None:
    wrong_type = flow("run", str(EXAMPLE), "--kubeflow", kubeflow.url, "-p", "seed=seven")
    assert wrong_type.returncode == 2 and "seed" in wrong_type.stderr
    with_engine_option = flow("run", str(EXAMPLE), "--kubeflow", kubeflow.url, "--cluster")
    assert with_engine_option.returncode == 2
    assert "--cluster: not with --kubeflow (the Kubeflow server runs it)" in with_engine_option.stderr
    assert kubeflow.runs == {}
    unreachable = flow("run", str(EXAMPLE), "--kubeflow", "http://127.0.0.1:9")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: http://127.0.0.1:9: cannot reach the Kubeflow Pipelines API")
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_a_missing_client_library_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kfp_server_api", None)
    with pytest.raises(UsageError, match=r"pip install 'flow-pipelines\[kubeflow\]'"):
        KubeflowClient("http://127.0.0.1:9")


def test_an_unknown_run_is_reported_with_the_servers_message(kubeflow: KubeflowStandIn) -> None:
    client = KubeflowClient(kubeflow.url)
    with pytest.raises(KubeflowError, match="HTTP 404: run nope not found"):
        client.get("nope")
    client.close()


def test_detach_returns_once_the_run_is_created(kubeflow: KubeflowStandIn) -> None:
    kubeflow.outcome = "RUNNING"
    done = flow("run", str(EXAMPLE), "--kubeflow", kubeflow.url, "--detach")
    assert done.returncode == 0, done.stderr
    (run,) = kubeflow.runs.values()
    assert run.state == "PENDING", "a detached submission does not follow the run"
    assert done.stdout.count("\n") == 1
