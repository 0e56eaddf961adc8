"""`flow run` as it shows a run going on: on a terminal (a pseudo-terminal here) and piped, with the tasks'
output (--stream-logs) on the process backend, and once on Docker."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from dataclasses import replace
from pathlib import Path

from runner.testing.shellsteps import Step, pipeline
from tests.conftest import IMAGE_MAP_ARGS, require_docker

COLOURS = re.compile(r"\x1b\[[0-9;]*m")
CURSOR = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]")  # moves and erasures: the table is being redrawn
# Fails on its first attempt, with the last line of its output saying why; succeeds on the second.
FLAKY = Step(
    'if [ -f "{{$.pipeline_root}}/tried" ]; then echo second try; else touch "{{$.pipeline_root}}/tried"; '
    'echo "first try"; echo "OSError: disk full" >&2; exit 3; fi',
    retries=1,
)
REPORT = Step('echo "line one"; printf "no line end"', after=("flaky",))


def flow(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "runner.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def flow_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run `flow` with a pseudo-terminal of 100 columns and 30 rows as its stdout and stderr."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: every process holding it ended
            break
        if not chunk:
            break
        output.extend(chunk)
    os.close(controller)
    return process.wait(timeout=300), output.decode("utf-8", errors="replace")


def test_piped_stream_logs_interleave_prefixed_output_and_retries(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"flaky": FLAKY, "report": REPORT}))
    done = flow("run", str(path), "--backend", "process", "--root", str(tmp_path / "root"), "--stream-logs")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "\x1b" not in done.stdout
    retry = next(i for i, line in enumerate(lines) if "RETRYING" in line)
    assert lines[retry].endswith(
        "flaky: attempt 1 failed (exited with code 3: OSError: disk full); attempt 2 now"
    )
    # The failed attempt's output comes whole before the line saying it failed, the next one's after.
    assert lines.index("[flaky] first try") < lines.index("[flaky] OSError: disk full") < retry
    assert retry < lines.index("[flaky (attempt 2)] second try")
    # A line without its end is printed once the task ended.
    assert "[report] line one" in lines and "[report] no line end" in lines
    assert lines.index("[report] no line end") < next(
        i for i, x in enumerate(lines) if "SUCCEEDED" in x and x.endswith(" report")
    )


def test_without_stream_logs_a_retry_is_still_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"flaky": FLAKY}))
    done = flow("run", str(path), "--backend", "process", "--root", str(tmp_path / "root"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flaky: attempt 1 failed (exited with code 3: OSError: disk full)" in done.stdout
    assert "first try" not in done.stdout


def test_on_a_terminal_the_table_comes_after_the_run_line_with_counters_and_logs(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"flaky": FLAKY, "report": REPORT}))
    code, output = flow_on_a_terminal(
        "run", str(path), "--backend", "process", "--root", str(tmp_path / "root"), "--stream-logs"
    )
    # Each redrawing of the table starts on a line of its own: what the terminal shows in the end is last.
    text = CURSOR.sub("\n", COLOURS.sub("", output)).replace("\r", "")
    assert code == 0, text
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    assert re.fullmatch(r"run [0-9a-f]{8}: shell-steps on process, root .*", lines[0])
    assert lines[1].split() == ["task", "state", "time"]
    assert "[flaky] first try" in lines and "[flaky (attempt 2)] second try" in lines
    assert any("flaky: attempt 1 failed (exited with code 3: OSError: disk full)" in line for line in lines)
    # The last drawing of the table, left on the screen above the summary.
    summary = next(i for i, line in enumerate(lines) if re.match(r"run [0-9a-f]{8} SUCCEEDED", line))
    assert lines[summary - 1] == "2 done · 0 running · 0 failed · 0 cached · 0 pending"
    assert lines[summary - 3].split()[:2] == ["flaky", "SUCCEEDED"] and "attempt 2" in lines[summary - 3]
    assert lines[summary - 2].split()[:2] == ["report", "SUCCEEDED"]


def test_stream_logs_is_refused_with_detach(tmp_path: Path) -> None:
    done = flow("run", str(tmp_path / "p.yaml"), "--cluster", "--detach", "--stream-logs")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "--stream-logs" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_resume_and_rerun_stream_logs_too(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"flaky": replace(FLAKY, retries=0), "report": REPORT}))
    failed = flow("run", str(path), "--backend", "process", "--root", str(tmp_path / "root"), "--stream-logs")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "[flaky] first try" in failed.stdout.splitlines()
    run_id = re.match(r"run ([0-9a-f]{8}):", failed.stdout)
    assert run_id is not None, failed.stdout
    resumed = flow("resume", run_id[1], "--stream-logs")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = resumed.stdout.splitlines()
    assert "[flaky (attempt 2)] second try" in lines and "[report] line one" in lines
    rerun = flow("rerun", run_id[1], "report", "--stream-logs")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "[report] line one" in rerun.stdout.splitlines()
    assert "[report]" not in flow("rerun", run_id[1], "report").stdout


def test_stream_logs_on_docker(tmp_path: Path) -> None:
    require_docker()
    path = tmp_path / "p.yaml"
    path.write_text(pipeline({"flaky": FLAKY, "report": REPORT}))
    done = flow("run", str(path), "--backend", "docker", "--pull", "never", *IMAGE_MAP_ARGS, "--stream-logs")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "[flaky] first try" in lines and "[flaky] OSError: disk full" in lines
    assert "[flaky (attempt 2)] second try" in lines
    assert "[report] line one" in lines and "[report] no line end" in lines
