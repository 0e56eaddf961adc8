"""A pod's output, copied to its task's log file while it runs, so logs outlive the pod."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from backends.k8s.pods import MAIN_CONTAINER
from backends.logfile import LogCopy

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api

_BLOCK = 1 << 16
_START_CHECK_SECONDS = 0.1


class PodLogFollower(LogCopy):
    """Follows one pod's main container into its log file, once it has started."""

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
        super().__init__(log_path, pod, on_done)
        self.core, self.namespace, self.pod = core, namespace, pod
        self._started = started
        self.complete = False  # the stream ended with the container, not with an error

    def copy(self, log: BinaryIO) -> None:
        while not self.stopped:
            started = self._started()
            if started is None:
                return
            if started:
                break
            time.sleep(_START_CHECK_SECONDS)
        else:
            return
        # An error ends the copy; the backend fetches the whole log once the pod has finished instead.
        response = self.core.read_namespaced_pod_log(
            self.pod, self.namespace, container=MAIN_CONTAINER, follow=True, _preload_content=False
        )
        try:
            # The API sends the log chunked, a chunk as the container writes: each is written at once
            # rather than waiting for a full block.
            for block in response.stream(_BLOCK):
                log.write(block)
                log.flush()
                if self.stopped:
                    return
            self.complete = True
        finally:
            response.release_conn()

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
