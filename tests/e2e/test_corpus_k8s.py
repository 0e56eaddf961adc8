"""The public kfp corpus on the cluster: the same test as on the local backends (tests/integration),
collected here again so that e2e/conftest.py's `backend_name` makes it run on k8s."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client, config

from tests.conftest import TEST_NAMESPACE, admin_kubeconfig, require_cluster
from tests.integration import test_corpus
from tests.integration.test_corpus import corpus_backend, test_corpus_file

__all__ = ["corpus_backend", "test_corpus_file"]

# The corpus' secret pipelines read this Secret as env (kfp.local, the reference, ignores kubernetes
# settings; a cluster must have it, as a Kubeflow cluster would).
CORPUS_SECRET, CORPUS_USERNAME = "test-secret-1", "corpus-user"

# What honouring the kubernetes settings changes: the tasks see the Secret's value where the reference
# printed "not-set".
ON_A_CLUSTER = {
    ("parallel_and_nested__parallel_for_secret.yaml", "task_outputs/example-component"): [
        {"Output": CORPUS_USERNAME}
    ]
    * 3,
    ("parallel_and_nested__nested_parallel_for_secret.yaml", "task_outputs/worker-component"): [
        {"Output": CORPUS_USERNAME}
    ]
    * 2,
}


@pytest.fixture(autouse=True)
def cluster_semantics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_corpus, "KFP_SEMANTICS", {**test_corpus.KFP_SEMANTICS, **ON_A_CLUSTER})


@pytest.fixture(autouse=True, scope="module")
def corpus_secret() -> None:
    """The Secret the corpus names, made or made current and never deleted: test processes running in
    parallel each make it before their corpus tests, while another's pods may be reading it."""
    require_cluster()
    with config.new_client_from_config(config_file=admin_kubeconfig()) as api:
        core = client.CoreV1Api(api)
        data = {"username": base64.b64encode(CORPUS_USERNAME.encode()).decode()}
        secret = {"metadata": {"name": CORPUS_SECRET}, "data": data}
        try:
            core.create_namespaced_secret(TEST_NAMESPACE, secret)
        except client.exceptions.ApiException as exc:
            if exc.status != 409:  # there already
                raise
            core.replace_namespaced_secret(CORPUS_SECRET, TEST_NAMESPACE, secret)
