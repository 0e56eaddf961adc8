"""The pod watcher's bookkeeping: list, watch from the list's resourceVersion, resume, list again on 410."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from kubernetes import watch
from kubernetes.client import V1ListMeta, V1ObjectMeta, V1Pod, V1PodList
from kubernetes.client.exceptions import ApiException

from backends.k8s import watcher as watcher_module
from backends.k8s.watcher import PodWatcher


def pod(name: str, version: str) -> V1Pod:
    return V1Pod(metadata=V1ObjectMeta(name=name, resource_version=version))


class StubCore:
    """Lists what it is told; records the resourceVersion each watch starts from."""

    def __init__(self, listings: list[V1PodList]) -> None:
        self.listings = listings
        self.lists = 0

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> V1PodList:
        listing = self.listings[min(self.lists, len(self.listings) - 1)]
        self.lists += 1
        return listing


class ScriptedWatch:
    """Each watch started plays the next script: events to yield, then an exception or the end."""

    scripts: ClassVar[list[list[Any]]] = []
    started_from: ClassVar[list[str | None]] = []

    def stream(self, func: Any, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        ScriptedWatch.started_from.append(kwargs.get("resource_version"))
        script = ScriptedWatch.scripts.pop(0) if ScriptedWatch.scripts else []
        for step in script:
            if isinstance(step, Exception):
                raise step
            yield step
        if not script:
            time.sleep(0.05)

    def stop(self) -> None:
        pass


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_broken_watch_resumes_and_a_gone_one_lists_again(monkeypatch: pytest.MonkeyPatch) -> None:
    ScriptedWatch.started_from = []
    ScriptedWatch.scripts = [
        [{"type": "MODIFIED", "object": pod("a", "11")}, ApiException(status=500)],  # broken: resume at 11
        [{"type": "ADDED", "object": pod("b", "12")}, ApiException(status=410)],  # gone: list again
        [{"type": "DELETED", "object": pod("a", "31")}],
    ]
    monkeypatch.setattr(watch, "Watch", ScriptedWatch)  # the watcher imports it when it starts
    monkeypatch.setattr(watcher_module, "_RETRY_SECONDS", 0.01)
    first = V1PodList(metadata=V1ListMeta(resource_version="10"), items=[pod("a", "10")])
    second = V1PodList(metadata=V1ListMeta(resource_version="30"), items=[pod("a", "30"), pod("b", "30")])
    core = StubCore([first, second])
    changes = threading.Event()

    watcher = PodWatcher(core, "flow", changes.set)  # type: ignore[arg-type]
    try:
        assert watcher.wait_synced(5)
        wait_for(lambda: watcher.was_deleted("a"))
        assert ScriptedWatch.started_from[:3] == ["10", "11", "30"]
        assert core.lists == 2
        assert watcher.get("a") is None and watcher.get("b") is not None
        assert changes.is_set()
    finally:
        watcher.stop()
