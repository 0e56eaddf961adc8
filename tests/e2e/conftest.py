"""End-to-end tests on a real Kubernetes cluster (scripts/local-cluster-up.sh), run with flow's
least-privilege account. Without a cluster they skip, except with CI=true, where they fail."""

from __future__ import annotations

import pytest

from tests.conftest import require_cluster


@pytest.fixture
def backend_name() -> str:
    """The tests the cluster shares with the local backends (the corpus) run on k8s here."""
    require_cluster()
    return "k8s"
