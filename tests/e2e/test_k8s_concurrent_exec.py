"""The volume's execs and the backend's other API calls at the same time: kubernetes.stream swaps the
request method of the API client it is given while an exec lasts, which once handed the pod watch a
websocket and killed it (found by scripts/chaos.py on k8s)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kubernetes.client import V1PodList

from backends.k8s import KubernetesBackend
from roots import kinds
from tests.conftest import TEST_NAMESPACE, cluster_options, require_cluster

SECONDS = 8


def test_other_api_calls_get_their_own_answers_while_the_volume_execs() -> None:
    require_cluster()
    backend = KubernetesBackend(**cluster_options())
    files = kinds.view(backend, kinds.for_new_run(backend, None, Path("unused"))).files()
    files.exists(["."])  # the helper pod is up before the race starts
    wrong: list[str] = []
    stop = threading.Event()

    def list_pods() -> None:
        while not stop.is_set():
            try:
                answer = backend.core.list_namespaced_pod(TEST_NAMESPACE, limit=1, _request_timeout=30)
            except Exception as exc:
                wrong.append(f"{type(exc).__name__}: {exc}")
                continue
            if not isinstance(answer, V1PodList):
                wrong.append(type(answer).__name__)

    lister = threading.Thread(target=list_pods)
    lister.start()
    try:
        deadline = time.monotonic() + SECONDS
        execs = 0
        while time.monotonic() < deadline:
            files.exists(["."])
            execs += 1
    finally:
        stop.set()
        lister.join()
        backend.close()
    assert execs > 3
    assert not wrong, wrong[:3]
