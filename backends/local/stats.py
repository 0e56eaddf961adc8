"""Peak memory and CPU time of a running container, sampled from the Docker stats stream: where its cgroup
cannot be read from this machine (backends.local.cgroups)."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker


class StatsSampler:
    """Follows one container's stats stream in a daemon thread until the container stops.

    The stream sends a sample about every second; the cgroup is gone once the container exits, so the
    last sample is the best figure there is for CPU time, and the largest memory usage is the peak.
    """

    def __init__(self, api: docker.APIClient, container_id: str) -> None:
        self.peak_memory_bytes: int | None = None
        self.cpu_seconds: float | None = None
        self._thread = threading.Thread(target=self._follow, args=(api, container_id), daemon=True)
        self._thread.start()

    def _follow(self, api: docker.APIClient, container_id: str) -> None:
        # Any error ends sampling: the container or the daemon is gone, and the engine learns it by polling.
        with contextlib.suppress(Exception):
            for sample in api.stats(container_id, decode=True, stream=True):
                self._record(sample)

    def _record(self, sample: dict[str, Any]) -> None:
        memory = sample.get("memory_stats") or {}
        usage = memory.get("max_usage") or memory.get("usage")
        if usage:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, int(usage))
        cpu_ns = ((sample.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
        if cpu_ns:
            self.cpu_seconds = max(self.cpu_seconds or 0.0, cpu_ns / 1e9)
