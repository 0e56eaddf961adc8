"""The public kfp corpus on the cluster: the same test as on the local backends (tests/integration),
collected here again so that e2e/conftest.py's `backend_name` makes it run on k8s."""

from tests.integration.test_corpus import test_corpus_file

__all__ = ["test_corpus_file"]
