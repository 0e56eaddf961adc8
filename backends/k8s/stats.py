"""Resource use of running pods, sampled from the kubelet's summary API through the API server's node proxy.

No metrics-server is needed: the kubelet of each node reports every pod's working-set memory and
cumulative CPU time. A sample is taken every few seconds while flow's pods run; the peak memory and the
last CPU figure seen are the task's. Where the API refuses (no `nodes/proxy` permission, see
deploy/rbac.yaml) or the kubelet had no sample yet, the figures stay unknown and `unavailable` says why.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backends.base import BackendError
from backends.k8s.errors import translated
from backends.k8s.pods import MAIN_CONTAINER

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api

_INTERVAL_SECONDS = 1.0


@dataclass
class Usage:
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None


class PodStats:
    """Samples the nodes of tracked pods in a daemon thread while any pod is tracked."""

    def __init__(self, core: CoreV1Api, namespace: str) -> None:
        self.core, self.namespace = core, namespace
        self.unavailable = ""  # why figures are missing, once the API said so
        self._nodes: dict[str, str] = {}  # pod -> node
        self._usage: dict[str, Usage] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flow-k8s-stats", daemon=True)
        self._thread.start()

    def track(self, pod: str, node: str) -> None:
        with self._lock:
            if pod not in self._nodes:
                self._nodes[pod] = node
                self._usage.setdefault(pod, Usage())
        self._wake.set()

    def finish(self, pod: str, node: str | None) -> Usage:
        """Stop sampling `pod` (which ran on `node`); what was seen of it. A pod that ran between two
        samples is sampled once more now: the kubelet still reports a container a while after it exited."""
        with self._lock:
            self._usage.setdefault(pod, Usage())
            seen = self._usage[pod]
        if node and seen.peak_memory_bytes is None and not self.unavailable:
            self._sample(node)
        with self._lock:
            self._nodes.pop(pod, None)
            return self._usage.pop(pod, Usage())

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                nodes = set(self._nodes.values())
            if not nodes or self.unavailable:
                self._wake.wait()
                self._wake.clear()
                continue
            for node in nodes:
                self._sample(node)
            self._stop.wait(_INTERVAL_SECONDS)

    def _sample(self, node: str) -> None:
        try:
            with translated(f"reading the resource use on node {node}"):
                response = self.core.connect_get_node_proxy_with_path(
                    node, "stats/summary", _preload_content=False, _request_timeout=10
                )
                summary = json.loads(response.data)
        except BackendError as exc:
            if "(403)" in str(exc):
                self.unavailable = f"resource use unavailable: {exc}"
            return
        except ValueError:
            return
        self._record(summary)

    def _record(self, summary: dict[str, Any]) -> None:
        with self._lock:
            for pod in summary.get("pods") or []:
                ref = pod.get("podRef") or {}
                usage = self._usage.get(ref.get("name", ""))
                if usage is None or ref.get("namespace") != self.namespace:
                    continue
                for container in pod.get("containers") or []:
                    if container.get("name") != MAIN_CONTAINER:
                        continue
                    memory = (container.get("memory") or {}).get("workingSetBytes")
                    cpu = (container.get("cpu") or {}).get("usageCoreNanoSeconds")
                    if memory is not None:
                        usage.peak_memory_bytes = max(usage.peak_memory_bytes or 0, int(memory))
                    if cpu is not None:
                        usage.cpu_seconds = max(usage.cpu_seconds or 0.0, cpu / 1e9)
