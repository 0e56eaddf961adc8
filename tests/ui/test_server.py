"""`flow ui` and `flow run --ui` as a user starts them: where they listen, and what they print."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline

URL = re.compile(r"(http://\S+)")


def listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket the process `pid` listens on, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word of the address in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, width // 2, 4))
            found.add((str(ipaddress.ip_address(words)), int(port, 16)))
    return found


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(10)


def flow(
    args: list[str],
    processes: list[subprocess.Popen[str]],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runner.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    processes.append(process)
    return process


def wait_for_line(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting {prefix!r} in: {''.join(seen)}")


def get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_flow_ui_listens_on_loopback_only_by_default_and_requires_the_token_it_prints(
    started: list[subprocess.Popen[str]],
) -> None:
    process = flow(["ui", "--port", "0"], started)
    line = wait_for_line(process, "flow ui: ")
    match = re.fullmatch(r"flow ui: http://127\.0\.0\.1:(\d+)/\?token=([\w-]{20,})", line)
    assert match, line
    port, token = int(match.group(1)), match.group(2)
    assert listening(process.pid) == {("127.0.0.1", port)}
    assert get(f"http://127.0.0.1:{port}/api/runs") == 401  # another user of this machine: no token
    assert get(f"http://127.0.0.1:{port}/api/runs", token=token) == 200


def test_flow_ui_no_token_is_allowed_on_loopback_only_and_warns(
    started: list[subprocess.Popen[str]],
) -> None:
    process = flow(["ui", "--port", "0", "--no-token"], started)
    line = wait_for_line(process, "flow ui: http")
    match = re.fullmatch(r"flow ui: http://127\.0\.0\.1:(\d+)/", line)
    assert match, line
    warning = wait_for_line(process, "flow ui: warning: ")
    assert warning == (
        "flow ui: warning: no token, so every user of this machine can use this UI and run code as you"
    )
    assert get(f"http://127.0.0.1:{match.group(1)}/api/runs") == 200
    refusals = {
        "0.0.0.0": "error: flow ui: --no-token is allowed on loopback only, not on 0.0.0.0",
        "127.0.0.1": "error: flow ui: --token and --no-token contradict each other",
    }
    for host, message in refusals.items():
        refused = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", "ui", "--port", "0", "--no-token", "--host", host]
            + (["--token", "chosen"] if host == "127.0.0.1" else []),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", message + "\n")


def test_flow_ui_beyond_loopback_requires_the_token_it_prints(started: list[subprocess.Popen[str]]) -> None:
    process = flow(["ui", "--host", "0.0.0.0", "--port", "0"], started)
    line = wait_for_line(process, "flow ui: ")
    match = re.fullmatch(r"flow ui: http://0\.0\.0\.0:(\d+)/\?token=([\w-]{20,})", line)
    assert match, line
    port, token = int(match.group(1)), match.group(2)
    assert get(f"http://127.0.0.1:{port}/api/runs") == 401
    assert get(f"http://127.0.0.1:{port}/api/runs", token="not-it") == 401
    assert get(f"http://127.0.0.1:{port}/api/runs", token=token) == 200
    given = flow(["ui", "--host", "0.0.0.0", "--port", "0", "--token", "chosen-token"], started)
    assert wait_for_line(given, "flow ui: ").endswith("?token=chosen-token")
    # From the environment, which (unlike a command line) other users cannot read.
    from_environment = flow(["ui", "--port", "0"], started, env={"FLOW_UI_TOKEN": "secret-token"})
    assert wait_for_line(from_environment, "flow ui: ").endswith("?token=secret-token")


def test_flow_run_ui_serves_the_run_page_on_loopback(
    started: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    source = tmp_path / "held.yaml"
    source.write_text(pipeline({"held": Step(WAIT_FOR_RELEASE)}, name="held"))
    root = tmp_path / "root"
    process = flow(["run", str(source), "--backend", "process", "--root", str(root), "--ui"], started)
    line = wait_for_line(process, "ui: ")
    match = re.match(r"ui: http://127\.0\.0\.1:(\d+)/\?token=([\w-]{20,})#/runs/(\w+) ", line)
    assert match, line
    port, token, run_id = int(match.group(1)), match.group(2), match.group(3)
    assert all(ipaddress.ip_address(address).is_loopback for address, _ in listening(process.pid))
    assert ("127.0.0.1", port) in listening(process.pid)
    assert get(f"http://127.0.0.1:{port}/api/runs/{run_id}") == 401
    assert get(f"http://127.0.0.1:{port}/api/runs/{run_id}", token=token) == 200
    (root / "release").touch()
    assert process.wait(60) == 0
