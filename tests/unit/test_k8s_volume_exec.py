"""How a volume helper's exec ends: its exit code from the status Kubernetes sends at its end, and an exec
cut short (no status, a dropped connection), which is run again (the real cluster deleting the helper in the
middle of one: tests/e2e/test_k8s.py, test_a_volume_operation_cut_short_by_its_helper_going_runs_again)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes.stream
import pytest
from kubernetes import client
from websocket import WebSocketConnectionClosedException

from backends.base import BackendError, TemporaryBackendError
from backends.k8s import volume
from backends.k8s.pods import PodSettings
from backends.k8s.volume import HelperPod, VolumeFiles, exit_code

EXITED_3 = json.dumps(
    {
        "status": "Failure",
        "message": "command terminated with non-zero exit code: exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
)


@pytest.mark.parametrize(
    ("status", "code"),
    [(json.dumps({"metadata": {}, "status": "Success"}), 0), (EXITED_3, 3)],
)
def test_the_exit_code_is_read_from_the_exec_s_status(status: str, code: int) -> None:
    assert exit_code("flow-files-x", status) == code


@pytest.mark.parametrize(
    "status",
    [
        "",  # the connection ended before the status came
        "{not json",
        json.dumps(["Success"]),
        json.dumps({"status": "Failure", "message": "container not found", "details": None}),
        json.dumps({"status": "Failure", "details": {"causes": [{"reason": "ExitCode", "message": "x"}]}}),
    ],
)
def test_an_exec_without_an_exit_code_was_cut_short(status: str) -> None:
    with pytest.raises(TemporaryBackendError, match="ended without an exit code"):
        exit_code("flow-files-x", status)


class Exec:
    """One exec's connection as the kubernetes client gives it: `cut` drops it before the end."""

    def __init__(self, cut: bool, status: str = json.dumps({"status": "Success"})) -> None:
        self.cut, self.status, self.open = cut, status, True

    def is_open(self) -> bool:
        return self.open

    def update(self, timeout: float) -> None:
        if self.cut:
            raise WebSocketConnectionClosedException("socket is already closed.")
        self.open = False

    def peek_stdout(self) -> bool:
        return not self.open

    def read_stdout(self) -> bytes:
        return b"done\n"

    def peek_stderr(self) -> bool:
        return False

    def read_channel(self, channel: int) -> str:
        return self.status

    def close(self) -> None:
        self.open = False


class ReadyHelper(HelperPod):
    def __init__(self) -> None:
        super().__init__(client.CoreV1Api(), PodSettings(namespace="team", claim="c"), "busybox")
        self.checks = 0

    def ensure(self) -> str:
        self.checks += 1
        return self.name


def files_over(monkeypatch: pytest.MonkeyPatch, execs: list[Exec]) -> tuple[VolumeFiles, ReadyHelper]:
    def stream(*args: Any, **kwargs: Any) -> Exec:
        return execs.pop(0)

    monkeypatch.setattr(kubernetes.stream, "stream", stream)
    monkeypatch.setattr(volume, "_EXEC_RETRY_SECONDS", 0.0)
    helper = ReadyHelper()
    return VolumeFiles(helper.core, helper), helper


def test_an_exec_whose_connection_drops_runs_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files, helper = files_over(monkeypatch, [Exec(cut=True), Exec(cut=False)])
    assert files.run("echo done") == b"done\n"
    assert helper.checks == 2


KILLED = EXITED_3.replace('"3"', '"137"')  # the helper stopped under the script


@pytest.mark.parametrize("status", ["", KILLED])
def test_an_exec_ended_without_its_code_or_killed_runs_again(
    monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    files, helper = files_over(monkeypatch, [Exec(cut=False, status=status), Exec(cut=False)])
    assert files.run("echo done") == b"done\n"
    assert helper.checks == 2


def test_an_exec_cut_short_twice_fails_as_temporary(monkeypatch: pytest.MonkeyPatch) -> None:
    files, _ = files_over(monkeypatch, [Exec(cut=True), Exec(cut=True)])
    with pytest.raises(TemporaryBackendError, match="was cut off"):
        files.run("echo done")


def test_a_script_s_own_failure_is_not_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    files, helper = files_over(monkeypatch, [Exec(cut=False, status=EXITED_3)])
    with pytest.raises(BackendError, match=r"exit 3") as raised:
        files.run("exit 3")
    assert not isinstance(raised.value, TemporaryBackendError)
    assert helper.checks == 1
