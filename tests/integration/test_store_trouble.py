"""A store in trouble is one line naming the cause, never a traceback or a run left RUNNING: a full disk,
a corrupted or locked file, a read-only FLOW_HOME (where reading commands still work), a password in a
libpq keyword form. FLOW_HOME and what flow keeps in it are readable by their owner only."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import StoreError
from runner.store import RunState, SQLiteStore
from runner.store.postgres import PostgresStore
from runner.store.trouble import cause
from runner.testing.shellsteps import Step, pipeline

WAIT_SECONDS = 60
# Fills the disk under the pipeline root while the file `fill` is beside the root, then goes on as if well.
FILL_DISK = (
    'if [ -f "{{$.pipeline_root}}/../fill" ]; then cat /dev/zero > "{{$.pipeline_root}}/../filler"; fi; '
    "echo done"
)


def flow(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOW_HOME": str(home)}
    command = [sys.executable, "-m", "runner.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=WAIT_SECONDS, env=env)


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def run_steps(tmp_path: Path, home: Path, steps: dict[str, Step]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "pipeline.yaml"
    path.write_text(pipeline(steps))
    return flow("run", str(path), "--backend", "process", "--root", str(home.parent / "root"), home=home)


@contextlib.contextmanager
def mounted(target: Path, *options: str) -> Iterator[Path]:
    """A mount of the test's own (root only), removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small or read-only file system needs root")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *options, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def test_a_full_disk_fails_the_run_in_one_line_and_it_resumes(tmp_path: Path) -> None:
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as disk:
        home = disk / "home"
        (disk / "fill").touch()
        steps = {
            "a": Step("echo a"),
            "fill": Step(FILL_DISK, after=("a",)),
            "b": Step("echo b", after=("fill",)),
        }
        failed = run_steps(tmp_path, home, steps)
        assert failed.returncode != 0
        assert "Traceback" not in failed.stderr, failed.stderr
        (disk / "filler").unlink()
        (disk / "fill").unlink()
        listed = flow("runs", home=home)
        assert listed.returncode == 0, listed.stderr
        assert RunState.FAILED.value in listed.stdout and RunState.RUNNING.value not in listed.stdout
        resumed = flow("resume", "latest", home=home)
        assert resumed.returncode == 0, resumed.stderr
        with SQLiteStore(home / "flow.db") as store:
            assert store.runs(1)[0].state == RunState.SUCCEEDED


def test_a_full_disk_when_a_run_starts_is_one_line(tmp_path: Path) -> None:
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=1m", "tmpfs") as disk:
        home = disk / "home"
        assert flow("runs", home=home).returncode == 0  # the store exists
        with contextlib.suppress(OSError), (disk / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        one_line_error(run_steps(tmp_path, home, {"a": Step("echo a")}), "disk is full")


def test_an_engine_that_died_leaves_its_run_failed_for_the_next_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_steps(tmp_path, home, {"a": Step("echo a")}).returncode == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    with SQLiteStore(home / "flow.db") as store:
        record = store.runs(1)[0]
        record.state, record.engine_pid = RunState.RUNNING, dead.pid  # as an engine killed mid-run leaves it
        store.save_run(record)
    shown = flow("show", record.run_id, "-o", "json", home=home)
    assert shown.returncode == 0, shown.stderr
    assert '"state": "FAILED"' in shown.stdout and "flow resume" in shown.stdout
    resumed = flow("resume", record.run_id, home=home)
    assert resumed.returncode == 0, resumed.stderr


def test_a_corrupted_store_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_steps(tmp_path, home, {"a": Step("echo a")}).returncode == 0
    database = home / "flow.db"
    with database.open("r+b") as file:  # every page after the header's page, overwritten
        file.seek(4096)
        file.write(b"\xff" * (database.stat().st_size - 4096))
    one_line_error(flow("runs", home=home), "corrupted", str(database))
    database.write_bytes(b"not a database at all" * 100)
    one_line_error(flow("runs", home=home), "corrupted", str(database))


def test_a_locked_store_is_said_to_be_locked(tmp_path: Path) -> None:
    path = tmp_path / "flow.db"
    SQLiteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as raised:
        waiter.execute("BEGIN IMMEDIATE")
    assert cause(raised.value).startswith("the store is locked by another process")
    holder.close()
    waiter.close()


def test_reading_commands_work_on_a_read_only_flow_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_steps(tmp_path, home, {"a": Step("echo hello-read-only")}).returncode == 0
    with mounted(tmp_path / "read-only", "--bind", "-o", "ro", str(home)) as read_only:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(read_only)], check=True)
        for command in (["runs"], ["show", "latest"], ["artifacts", "latest"]):
            result = flow(*command, home=read_only)
            assert result.returncode == 0, (command, result.stderr)
        assert "hello-read-only" in flow("logs", "latest", "a", home=read_only).stdout
        one_line_error(run_steps(tmp_path, read_only, {"a": Step("echo a")}), "read-only")


def test_flow_home_and_its_files_are_its_owners_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_steps(tmp_path, home, {"a": Step("echo a")}).returncode == 0
    # The folders others could enter are private; the files in them are their owner's alone too.
    made = [home, home / "logs", *(p for p in home.rglob("*") if p.is_file())]
    assert len(made) > 3
    for path in made:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    home.chmod(0o755)
    (home / "flow.db").chmod(0o644)
    assert flow("runs", home=home).returncode == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "flow.db").stat().st_mode) == 0o600


def test_a_password_in_keyword_form_is_never_shown(tmp_path: Path) -> None:
    env_home = tmp_path / "home"
    for store in ("host=db.example password=s3cret-one user=flow", "password='s3cret two' host=db"):
        result = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", "runs"],
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            env={**os.environ, "FLOW_HOME": str(env_home), "FLOW_STORE": store},
        )
        error = one_line_error(result, "password=***")
        assert "s3cret" not in result.stderr + result.stdout, error


def postgres_with(url: str, *settings: str) -> str:
    """The store's URL with server settings added to its libpq options."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    options = " ".join([*query.pop("options", []), *(f"-c{s}" for s in settings)])
    pairs = [*((k, v) for k, values in query.items() for v in values), ("options", options)]
    query_text = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit(parts._replace(query=query_text))


def test_a_read_only_postgresql_store_is_read_and_refuses_writes_in_one_line(
    tmp_path: Path, postgres_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FLOW_STORE", postgres_store_url)
    assert run_steps(tmp_path, home, {"a": Step("echo a")}).returncode == 0
    monkeypatch.setenv("FLOW_STORE", postgres_with(postgres_store_url, "default_transaction_read_only=on"))
    listed = flow("runs", home=home)
    assert listed.returncode == 0, listed.stderr
    assert RunState.SUCCEEDED.value in listed.stdout
    one_line_error(run_steps(tmp_path, home, {"a": Step("echo a")}), "the store is read-only")


def test_a_locked_postgresql_store_is_said_to_be_locked(postgres_store_url: str) -> None:
    import psycopg

    PostgresStore(postgres_store_url).close()
    with psycopg.connect(postgres_store_url) as holder:
        holder.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        store = PostgresStore(postgres_with(postgres_store_url, "lock_timeout=100"))
        try:
            with pytest.raises(StoreError, match="locked by another session"):
                store.runs()
        finally:
            store.close()
