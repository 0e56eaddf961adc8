"""Bad input to `flow run --detach` is one line naming the problem, before anything reaches a cluster or
a store: no run is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli.main import main
from runner.testing.shellsteps import Step, pipeline


@pytest.fixture
def ir(tmp_path: Path) -> str:
    path = tmp_path / "one.yaml"
    path.write_text(pipeline({"one": Step("echo one")}))
    return str(path)


@pytest.mark.parametrize(
    ("store", "args", "expected"),
    [
        ("postgresql://flow:pw@db.example/flow", ["--detach"], "--detach runs the engine in the cluster"),
        ("postgresql://flow:pw@db.example/flow", ["--local", "--detach"], "use it with --cluster"),
        (
            "postgresql://flow:pw@db.example/flow",
            ["--backend", "process", "--detach"],
            "not on the process backend: use it with --cluster",
        ),
        (None, ["--cluster", "--detach"], "set FLOW_STORE=postgresql://"),
        ("sqlite:///tmp/flow.db", ["--cluster", "--detach"], "a store the cluster reaches too"),
        ("postgresql://flow:pw@127.0.0.1:5432/flow", ["--cluster", "--detach"], "'127.0.0.1'"),
        ("postgresql://flow:pw@localhost/flow", ["--cluster", "--detach"], "'localhost'"),
        ("postgresql:///flow", ["--cluster", "--detach"], "a local socket"),
        (None, ["--cluster", "--driver-image", "x:1"], "--driver-image: only with --detach"),
        (None, ["--cluster", "--detach", "--ui"], "with --detach, use flow ui"),
        (
            "postgresql://flow:pw@db.example/flow",
            ["--cluster", "--detach", "--root", "s3://bucket/runs"],
            "--root: a detached run keeps its root on the cluster's volume claim",
        ),
    ],
)
def test_bad_detach_input_is_one_line_and_records_no_run(
    ir: str, store: str | None, args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store is None:
        monkeypatch.delenv("FLOW_STORE", raising=False)
    else:
        monkeypatch.setenv("FLOW_STORE", store)
    result = CliRunner().invoke(main, ["run", ir, *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    monkeypatch.delenv("FLOW_STORE", raising=False)
    listed = CliRunner().invoke(main, ["runs"])
    assert listed.exit_code == 0 and "shell-steps" not in listed.output
