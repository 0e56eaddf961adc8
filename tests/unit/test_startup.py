"""What `flow` loads to start: a command loads what it uses, not every backend's client or the UI's server.

Each case runs in a fresh interpreter and lists which of the heavy packages it found in sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Packages that take long to import and that only some commands need.
HEAVY = (
    "kubernetes",
    "docker",
    "requests",
    "urllib3",
    "boto3",
    "botocore",
    "cel",
    "networkx",
    "starlette",
    "uvicorn",
    "psycopg",
    "rich",  # for a terminal only: piped output is plain lines
)
ROOT = Path(__file__).resolve().parents[2]

CACHED_RUN = """
pipelineInfo: {name: plain}
schemaVersion: 2.1.0
components: {comp-a: {executorLabel: exec-a}}
deploymentSpec: {executors: {exec-a: {container: {image: busybox, command: [echo, a]}}}}
root: {dag: {tasks: {a: {componentRef: {name: comp-a}, cachingOptions: {enableCache: true}}}}}
"""


def loaded_after(code: str, tmp_path: Path) -> list[str]:
    """The heavy packages in sys.modules once `code` has run in a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
        """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "FLOW_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return found


@pytest.mark.parametrize(
    "code",
    [
        "import runner",
        "import runner.cli.main",
        # `flow --version`
        """
        from runner.cli.main import main
        try:
            main(["--version"])
        except SystemExit:
            pass
        """,
        # The help of `flow run` shows every backend's options, made from the backends' settings.
        """
        from runner.cli.main import main
        try:
            main(["run", "--help"])
        except SystemExit:
            pass
        """,
    ],
    ids=["import runner", "import the cli", "flow --version", "flow run --help"],
)
def test_a_command_loads_no_heavy_package_it_does_not_use(code: str, tmp_path: Path) -> None:
    assert loaded_after(code, tmp_path) == []


def test_a_run_on_the_process_backend_loads_no_other_backend_client(tmp_path: Path) -> None:
    """A pipeline without conditions, run on processes, twice (the second time from the cache): no CEL,
    no Docker or Kubernetes client, no S3 client for a local root."""
    (tmp_path / "p.yaml").write_text(CACHED_RUN, encoding="utf-8")
    code = """
        from runner.cli.main import main
        for _ in range(2):
            try:
                main(["run", "p.yaml", "--backend", "process"])
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        """
    assert loaded_after(code, tmp_path) == []
