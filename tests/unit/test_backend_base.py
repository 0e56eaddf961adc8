"""The bookkeeping backends share (backends/tracking.py, backends/logfile.py) and the settings they declare
(backends/settings.py): the commands' options and flow.yaml's keys made from them."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from click.testing import CliRunner

from backends.base import REASON_CANCELLED, REASON_LOST, Phase, RunInfo, TaskSpec, TaskStatus
from backends.fake import FakeBackend, Outcome
from backends.k8s.settings import KubernetesSettings
from backends.logfile import LogCopy
from backends.settings import ContainerSettings
from backends.tracking import Started
from runner.cli.backendoptions import backend_option_values, check_backend_settings
from runner.cli.main import main
from runner.config import load_config
from runner.errors import UsageError
from runner.plugins import create_backend


class CountingBackend(FakeBackend):
    """The fake, counting what the base asks of it."""

    def __init__(self, keep_failed: bool = False) -> None:
        super().__init__(lambda task: Outcome(exit_code=1 if "fails" in task.name else 0))
        self.keep_failed = keep_failed
        self.stopped: list[str] = []
        self.removed: list[str] = []
        self.asked: list[str] = []

    def state(self, tasks: Sequence[Started[Any]]) -> dict[str, TaskStatus]:
        self.asked += [task.name for task in tasks]
        return super().state(tasks)

    def stop(self, task: Started[Any]) -> None:
        self.stopped.append(task.name)
        super().stop(task)

    def remove(self, task: Started[Any]) -> None:
        self.removed.append(task.name)


def spec(name: str, run_id: str = "r1") -> TaskSpec:
    return TaskSpec(run_id=run_id, task_path=name, attempt=1, name=name, image="busybox", command=["true"])


def test_an_unknown_handle_is_lost_and_a_final_status_is_asked_for_once() -> None:
    backend = CountingBackend()
    backend.submit(spec("works"))
    assert backend.poll(["nobody"])["nobody"].reason == REASON_LOST
    first = backend.poll(["works"])["works"]
    again = backend.poll(["works"])["works"]
    assert first.phase == again.phase == Phase.SUCCEEDED
    assert backend.asked == ["works"]  # the runtime is not asked about a finished task again
    assert backend.removed == ["works"]


def test_cancel_is_idempotent_and_stops_only_what_runs() -> None:
    backend = CountingBackend()
    backend.submit(spec("works"))
    backend.cancel("works")
    backend.cancel("works")
    backend.cancel("nobody")
    assert backend.stopped == ["works"] and backend.removed == ["works"]
    assert backend.poll(["works"])["works"].reason == REASON_CANCELLED
    assert backend.running == 0
    backend.submit(spec("finished"))
    backend.poll(["finished"])
    backend.cancel("finished")
    assert backend.stopped == ["works"]


def test_failed_tasks_are_kept_on_request_and_cleanup_forgets_the_run() -> None:
    backend = CountingBackend(keep_failed=True)
    for name in ("works", "fails"):
        backend.submit(spec(name))
    backend.submit(spec("other", run_id="r2"))
    statuses = backend.poll(["works", "fails", "other"])
    assert statuses["fails"].phase == Phase.FAILED
    assert backend.removed == ["works", "other"]
    backend.cleanup(RunInfo(run_id="r1", root="/nowhere"))
    assert backend.cleaned == ["r1"]
    assert backend.poll(["works"])["works"].reason == REASON_LOST
    assert backend.poll(["other"])["other"].phase == Phase.SUCCEEDED  # another run's task is still known


class BlocksCopy(LogCopy):
    def __init__(self, log_path: Path, blocks: Iterator[bytes], on_done: threading.Event) -> None:
        super().__init__(log_path, "test", on_done.set)
        self.blocks = blocks

    def copy(self, log: BinaryIO) -> None:
        for block in self.blocks:
            log.write(block)
            log.flush()


def broken() -> Iterator[bytes]:
    yield b"before the stream broke\n"
    raise ConnectionError("the daemon went away")


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [(iter([b"one\n", b"two"]), b"one\ntwo"), (broken(), b"before the stream broke\n")],
)
def test_a_log_copy_writes_a_private_file_and_says_when_it_ended(
    tmp_path: Path, blocks: Iterator[bytes], expected: bytes
) -> None:
    ended = threading.Event()
    log_path = tmp_path / "logs" / "task.log"
    copy = BlocksCopy(log_path, blocks, ended)
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600 and not copy.done
    copy.start()
    assert copy.wait(10) and ended.is_set()
    assert log_path.read_bytes() == expected


def test_settings_check_their_values_and_take_only_their_own_options() -> None:
    with pytest.raises(ValueError, match="pull policy must be one of never, missing, always"):
        ContainerSettings(pull="sometimes")
    assert create_backend("process", image_map={"a": "b"}, pull="never", namespace="x").name == "process"
    assert KubernetesSettings.reaching("pvc://team/claim") == {"namespace": "team", "pvc": "claim"}
    assert KubernetesSettings.reaching("s3://bucket/prefix") == {}


@pytest.mark.parametrize(
    ("given", "backend", "refused"),
    [
        ({"namespace": "team"}, "local", "--namespace: only for --cluster"),
        ({"pvc": "claim"}, "docker", "--pvc: only for --cluster"),
        ({"keep_failed": True, "run_as_non_root": True}, "process", None),
        ({"namespace": "team", "pull": "never"}, "k8s", None),
    ],
)
def test_an_option_of_one_backend_only_is_refused_with_another(
    given: dict[str, object], backend: str, refused: str | None
) -> None:
    if refused is None:
        check_backend_settings(given, backend, "flow run")
        return
    with pytest.raises(UsageError, match=refused):
        check_backend_settings(given, backend, "flow run")


def test_flow_yaml_keys_are_the_settings_declared_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "flow.yaml"
    config.write_text("image_map: {python:3.11: mirror/python:3.11}\npull: never\n")
    assert load_config().backend == {"image_map": {"python:3.11": "mirror/python:3.11"}, "pull": "never"}
    given = {"image_map": ("busybox=mirror/busybox",), "keep_failed": True}
    assert backend_option_values(given) == {
        "image_map": {"python:3.11": "mirror/python:3.11", "busybox": "mirror/busybox"},
        "pull": "never",
        "keep_failed": True,
    }
    for text, problem in (
        ("pull: sometimes\n", "must be one of never, missing, always, not 'sometimes'"),
        ("image_map: [a]\n", "must map image names to image names"),
    ):
        config.write_text(text)
        with pytest.raises(UsageError, match=problem) as refused:
            load_config()
        assert refused.value.where == f"flow.yaml: {text.split(':')[0]}"


def test_run_help_groups_the_options_by_the_backends_that_take_them() -> None:
    shown = CliRunner().invoke(main, ["run", "--help"]).output
    shared, k8s = (
        shown.index("Options of the docker and k8s backends:"),
        shown.index("Options of the k8s backend:"),
    )
    assert shared < shown.index("--pull") < shown.index("--keep-failed") < k8s < shown.index("--namespace")
    assert "--files-image" not in shown and "--kubeconfig" not in shown  # for the Python API only
