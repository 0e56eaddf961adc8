"""kubernetes, boto3 and psycopg come with extras (`[k8s]`, `[s3]`, `[postgres]`, all three in `[all]`): a
feature that needs one that is missing says which extra to install, in one line. The package is made
missing by a None entry in sys.modules of a fresh interpreter, which makes its import fail as if it were
not installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = """
pipelineInfo: {name: plain}
schemaVersion: 2.1.0
components: {comp-a: {executorLabel: exec-a}}
deploymentSpec: {executors: {exec-a: {container: {image: busybox, command: [echo, a]}}}}
root: {dag: {tasks: {a: {componentRef: {name: comp-a}}}}}
"""


def flow_without(
    package: str, args: list[str], tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`flow ARGS` in a fresh interpreter where `package` cannot be imported."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{package!r}] = None
        from runner.cli.main import main
        main({args!r}, prog_name="flow")
        """)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("package", "args", "env", "expected"),
    [
        (
            "kubernetes",
            ["run", "p.yaml", "--cluster"],
            {},
            "error: --backend k8s: the k8s backend needs the kubernetes package: "
            "pip install 'flow-pipelines[k8s]'",
        ),
        (
            "boto3",
            ["run", "p.yaml", "--backend", "process", "--root", "s3://bucket/runs"],
            {},
            "error: --root: reading s3://bucket/runs needs the boto3 package: "
            "pip install 'flow-pipelines[s3]'",
        ),
        (
            "psycopg",
            ["runs"],
            {"FLOW_STORE": "postgresql://flow@127.0.0.1:9/flow"},
            "error: FLOW_STORE: a PostgreSQL store needs the psycopg package: "
            "pip install 'flow-pipelines[postgres]'",
        ),
    ],
    ids=["k8s", "s3", "postgres"],
)
def test_a_feature_whose_extra_is_missing_names_the_extra(
    package: str, args: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    done = flow_without(package, args, tmp_path, **env)
    assert (done.returncode, done.stderr) == (2, expected + "\n")


def test_the_extras_and_what_everyone_installs() -> None:
    """The three heavy clients are extras, `all` has them, and `dev` (the README's test set-up) has `all`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [requirement.split(">")[0].split("[")[0] for requirement in project["dependencies"]]
    assert not {"kubernetes", "boto3", "psycopg"} & set(names)
    extras = project["optional-dependencies"]
    assert [extras[name][0].split("[")[0].split(">")[0] for name in ("k8s", "s3", "postgres")] == [
        "kubernetes",
        "boto3",
        "psycopg",
    ]
    assert extras["all"] == ["flow-pipelines[k8s,s3,postgres,kubeflow]"]
    assert "flow-pipelines[all,examples]" in extras["dev"]
