"""A pod's output, copied to its task's log file while it runs, so logs outlive the pod."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes.client import CoreV1Api

from backends.k8s.pods import MAIN_CONTAINER

_BLOCK = 1 << 16
_START_CHECK_SECONDS = 0.1


class PodLogFollower:
    """Follows one pod's main container into `log_path` in a daemon thread, once it has started."""

    def __init__(
        self,
        core: CoreV1Api,
        namespace: str,
        pod: str,
        log_path: Path,
        started: Callable[[], bool | None],
        on_done: Callable[[], None],
    ) -> None:
        """`started()` says whether the container has started: True, False (not yet) or None (never will)."""
        self.core, self.namespace, self.pod, self.log_path = core, namespace, pod, log_path
        self._started, self._on_done = started, on_done
        self._done = threading.Event()
        self.complete = False  # the stream ended with the container, not with an error
        self._stop = threading.Event()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch(mode=0o600)  # only its owner reads it, as the store
        self._thread = threading.Thread(target=self._follow, name=f"flow-logs-{pod}", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                started = self._started()
                if started is None:
                    return
                if started:
                    break
                time.sleep(_START_CHECK_SECONDS)
            else:
                return
            # Errors end the copy; the backend fetches the whole log once the pod has finished instead.
            with contextlib.suppress(Exception), self.log_path.open("ab") as log:
                response = self.core.read_namespaced_pod_log(
                    self.pod, self.namespace, container=MAIN_CONTAINER, follow=True, _preload_content=False
                )
                try:
                    # The API sends the log chunked, a chunk as the container writes: each is written
                    # at once rather than waiting for a full block.
                    for block in response.stream(_BLOCK):
                        log.write(block)
                        log.flush()
                        if self._stop.is_set():
                            return
                    self.complete = True
                finally:
                    response.release_conn()
        finally:
            self._done.set()
            self._on_done()

    def refetch(self) -> None:
        """Replace the copy with the whole log as the API has it now (after the stream broke)."""
        response = self.core.read_namespaced_pod_log(
            self.pod, self.namespace, container=MAIN_CONTAINER, _preload_content=False
        )
        with self.log_path.open("wb") as log:
            for block in response.stream(_BLOCK):  # a log may be larger than memory
                log.write(block)
        response.release_conn()
        self.complete = True
