"""The latest state of flow's pods in a namespace, kept by one list-then-watch stream in a thread.

`poll` reads this cache instead of asking the API once per task and tick. The watch has a deadline and,
when it breaks, resumes from the last resourceVersion it saw; when that is too old (410 Gone) it lists
again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backends.base import BackendError
from backends.k8s.errors import Gone, translated
from backends.k8s.pods import LABEL_MANAGED

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api

log = logging.getLogger(__name__)

_WATCH_SECONDS = 60  # the server ends each watch after this long; the loop starts the next one
_CLIENT_TIMEOUT = _WATCH_SECONDS + 30  # a connection silent for longer than this is dead
_RETRY_SECONDS = 1.0


class PodWatcher:
    """Keeps the pods labelled as flow's in `namespace`, and which of them were deleted."""

    def __init__(self, core: CoreV1Api, namespace: str, on_change: Callable[[], None]) -> None:
        self.core, self.namespace, self._on_change = core, namespace, on_change
        self._pods: dict[str, Any] = {}
        self._deleted: set[str] = set()
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self.error: str = ""  # the last failure to reach the API, "" once it answers again
        self.error_since: float | None = None  # monotonic time the API stopped answering
        self.resource_version: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"flow-k8s-watch-{namespace}", daemon=True)
        self._thread.start()

    def wait_synced(self, timeout: float) -> bool:
        """Whether the first listing arrived within `timeout` seconds."""
        return self._synced.wait(timeout)

    def get(self, name: str) -> Any | None:
        with self._lock:
            return self._pods.get(name)

    def was_deleted(self, name: str) -> bool:
        with self._lock:
            return name in self._deleted

    def forget(self, name: str) -> None:
        with self._lock:
            self._pods.pop(name, None)
            self._deleted.discard(name)

    def stop(self) -> None:
        self._stop.set()

    def down_for(self) -> float:
        """Seconds the API has not answered the watch; 0 while it does."""
        return time.monotonic() - self.error_since if self.error_since is not None else 0.0

    def _answered(self) -> None:
        self.error, self.error_since = "", None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
            except Gone:
                self.resource_version = None  # too old to resume from: list again
            except BackendError as exc:
                self.error = str(exc)
                if self.error_since is None:
                    self.error_since = time.monotonic()
                log.debug("pod watch broke: %s", exc)
                self._stop.wait(_RETRY_SECONDS)

    def _list(self) -> None:
        with translated(f"listing pods in {self.namespace}"):
            listing = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"{LABEL_MANAGED}=1", _request_timeout=_CLIENT_TIMEOUT
            )
        with self._lock:
            current = {pod.metadata.name: pod for pod in listing.items}
            self._deleted |= set(self._pods) - set(current)
            self._pods = current
        self.resource_version = listing.metadata.resource_version
        self._answered()
        self._synced.set()
        self._on_change()

    def _watch(self) -> None:
        from kubernetes import watch

        stream = watch.Watch()
        with translated(f"watching pods in {self.namespace}"):
            for event in stream.stream(
                self.core.list_namespaced_pod,
                self.namespace,
                label_selector=f"{LABEL_MANAGED}=1",
                resource_version=self.resource_version,
                timeout_seconds=_WATCH_SECONDS,
                _request_timeout=_CLIENT_TIMEOUT,
            ):
                if self._stop.is_set():
                    stream.stop()
                    return
                kind, pod = event["type"], event["object"]
                if kind == "ERROR":
                    raise Gone(str(event.get("raw_object")))
                self.resource_version = pod.metadata.resource_version
                with self._lock:
                    if kind == "DELETED":
                        self._pods.pop(pod.metadata.name, None)
                        self._deleted.add(pod.metadata.name)
                    else:
                        self._pods[pod.metadata.name] = pod
                self._answered()
                self._on_change()
