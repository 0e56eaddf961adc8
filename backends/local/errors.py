"""Docker SDK errors translated into the backend error hierarchy, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from backends.base import (
    REASON_ERROR,
    REASON_IMAGE,
    BackendUnavailableError,
    PermanentBackendError,
    TemporaryBackendError,
)

if TYPE_CHECKING:
    import docker.errors


@contextmanager
def translated(action: str, gone_ok: bool = False) -> Iterator[None]:
    """Run a block of docker calls; raise flow's backend errors, with the docker error chained. With
    `gone_ok`, what is not found (a container already removed) ends the block without an error."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise PermanentBackendError(f"{action}: image not found: {_explain(exc)}", REASON_IMAGE) from exc
    except docker.errors.NotFound as exc:
        if gone_ok:
            return
        raise PermanentBackendError(f"{action}: {_explain(exc)}", REASON_ERROR) from exc
    except docker.errors.APIError as exc:
        if exc.is_server_error():
            raise TemporaryBackendError(f"{action}: the Docker daemon failed: {_explain(exc)}", 2.0) from exc
        raise PermanentBackendError(f"{action}: {_explain(exc)}", REASON_ERROR) from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise BackendUnavailableError(f"{action}: the Docker daemon is not answering ({exc})") from exc


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)
