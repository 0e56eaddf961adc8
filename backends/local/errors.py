"""Docker SDK errors translated into the backend error hierarchy, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker.errors
import requests.exceptions

from backends.base import (
    REASON_ERROR,
    REASON_IMAGE,
    BackendUnavailableError,
    PermanentBackendError,
    TemporaryBackendError,
)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Run a block of docker calls; raise flow's backend errors, with the docker error chained."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise PermanentBackendError(f"{action}: image not found: {_explain(exc)}", REASON_IMAGE) from exc
    except docker.errors.NotFound as exc:
        raise PermanentBackendError(f"{action}: {_explain(exc)}", REASON_ERROR) from exc
    except docker.errors.APIError as exc:
        if exc.is_server_error():
            raise TemporaryBackendError(f"{action}: the Docker daemon failed: {_explain(exc)}", 2.0) from exc
        raise PermanentBackendError(f"{action}: {_explain(exc)}", REASON_ERROR) from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise BackendUnavailableError(f"{action}: the Docker daemon is not answering ({exc})") from exc


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)
