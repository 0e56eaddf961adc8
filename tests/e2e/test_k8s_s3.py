"""An s3:// root on the cluster: each pod stages its task's files with the flow image, with the AWS
variables of a secret (--s3-secret) or of the engine's environment; the task itself never gets them."""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kfp import compiler
from kubernetes import client, config

from backends.k8s import KubernetesBackend
from runner.store import RunState
from runner.testing.session import FlowSession
from runner.testing.shellsteps import Step, pipeline
from tests.conftest import (
    S3_ENV,
    TEST_NAMESPACE,
    admin_kubeconfig,
    cluster_options,
    require_cluster,
    require_flow_image,
)
from tests.integration import s3_pipelines
from tests.integration.test_s3_root import bucket_objects, with_output


@pytest.fixture
def s3_secret() -> Iterator[Callable[[dict[str, str]], str]]:
    """Makes secrets of AWS variables the pods stage files with (as an admin would), each with a name of its
    own, as tests in parallel share the namespace; removed after."""
    require_cluster()
    require_flow_image()
    admin = client.CoreV1Api(config.new_client_from_config(config_file=admin_kubeconfig()))
    made: list[str] = []

    def make(variables: dict[str, str]) -> str:
        name = f"flow-test-s3-{uuid.uuid4().hex[:8]}"
        data = {key: base64.b64encode(value.encode()).decode() for key, value in variables.items()}
        admin.create_namespaced_secret(TEST_NAMESPACE, {"metadata": {"name": name}, "data": data})
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(client.exceptions.ApiException):
            admin.delete_namespaced_secret(name, TEST_NAMESPACE)


def session_with(tmp_path: Path, root: str, **options: Any) -> FlowSession:
    backend = KubernetesBackend(**cluster_options(), **options)
    return FlowSession(backend, tmp_path / "flow", root=root)


def test_a_kfp_pipeline_stages_its_artifacts_with_the_secrets_keys(
    s3_root: str, s3_secret: Callable[[dict[str, str]], str], tmp_path: Path
) -> None:
    spec = tmp_path / "s3.yaml"
    compiler.Compiler().compile(s3_pipelines.s3_artifacts, package_path=str(spec))
    notes = tmp_path / "notes.txt"
    notes.write_text("imported note\n")
    # Only the secret gives the pods keys and endpoint: with it named, the engine's variables are not copied.
    with session_with(tmp_path, s3_root, s3_secret=s3_secret(S3_ENV)) as session:
        result = session.run(spec, params={"n": 3, "notes_uri": str(notes)})
        assert session.backend is not None
        session.backend.close()

    assert result.state == RunState.SUCCEEDED, result.error
    assert result.outputs["Output"] == "3 rows (3), s3, ['config.json', 'weights/layer-0'], imported note"
    stored = bucket_objects(s3_root, result.run_id)
    assert stored[f"{result.run_id}/write-rows/table"] == b"row-0\nrow-1\nrow-2\n"
    assert stored[f"{result.run_id}/write-rows/model/config.json"] == b'{"n": 3}'


def test_the_task_gets_no_keys_and_a_failed_upload_fails_it(
    s3_root: str, s3_secret: Callable[[dict[str, str]], str], tmp_path: Path
) -> None:
    steps = {"report": Step('echo "aws variables: $(env | grep -c ^AWS_)"')}
    with session_with(tmp_path, s3_root) as session:  # keys from the engine's environment
        seen = session.run(pipeline(steps))
        assert session.backend is not None
        session.backend.close()
    assert seen.succeeded, seen.error
    assert "aws variables: 0" in seen.tasks["report"].log()

    unreachable = {**S3_ENV, "AWS_ENDPOINT_URL": "http://172.17.0.1:9"}
    writes = Step("echo done > \"{{$.outputs.parameters['out'].output_file}}\"")
    ir = with_output(pipeline({"writes": writes}), "writes", "out")
    with session_with(tmp_path, s3_root, s3_secret=s3_secret(unreachable)) as session:
        failed = session.run(ir)
        assert session.backend is not None
        session.backend.close()

    assert failed.state == RunState.FAILED
    error = failed.tasks["writes"].error
    assert "stage-out: staging out" in error and "172.17.0.1:9" in error, error
    assert bucket_objects(s3_root, failed.run_id) == {}


def test_stage_out_follows_no_link_the_task_left(s3_root: str, tmp_path: Path) -> None:
    """The stage-out container holds the keys (in its environment): a link to its /proc/self/environ or
    its root in the task's folder is never uploaded, and an output folder replaced by a link fails."""
    outputs = "\"{{$.outputs.parameters['out'].output_file}}\""
    inside = Step(
        f'echo done > {outputs}; d=$(dirname {outputs}); ln -s /proc/self/environ "$d/environ"; '
        'ln -s / "$d/everything"'
    )
    replaced = Step(f'd=$(dirname {outputs}); rm -rf "$d"; ln -s / "$d"')
    with session_with(tmp_path, s3_root) as session:
        kept = session.run(with_output(pipeline({"writes": inside}), "writes", "out"))
        escaped = session.run(with_output(pipeline({"writes": replaced}), "writes", "out"))
        assert session.backend is not None
        session.backend.close()

    assert kept.succeeded, kept.error
    assert bucket_objects(s3_root, kept.run_id) == {f"{kept.run_id}/writes/out": b"done\n"}
    assert escaped.state == RunState.FAILED
    error = escaped.tasks["writes"].error
    assert "stage-out: staging out" in error and "is a symbolic link or not a folder" in error, error
    assert bucket_objects(s3_root, escaped.run_id) == {}
