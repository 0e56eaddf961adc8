"""Kubernetes client errors, translated in one place into the backend error hierarchy."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from backends.base import BackendUnavailableError, PermanentBackendError, TemporaryBackendError

if TYPE_CHECKING:
    from kubernetes.client.exceptions import ApiException


class NotFound(Exception):
    """The object does not exist (HTTP 404); callers that expect that catch it."""


class Conflict(Exception):
    """The object already exists (HTTP 409)."""


class Gone(Exception):
    """A watch's resourceVersion is too old (HTTP 410): list again."""


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """Raise flow's errors for what the API says while `doing` something."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        message = f"{doing}: {_api_message(exc)}"
        if status == 404:
            raise NotFound(message) from exc
        if status == 409:
            raise Conflict(message) from exc
        if status == 410:
            raise Gone(message) from exc
        if status == 401:
            raise BackendUnavailableError(f"{doing}: the cluster refused flow's credentials (401)") from exc
        if status in (429, 500, 502, 503, 504) or status == 0:
            raise TemporaryBackendError(message, delay=2.0) from exc
        raise PermanentBackendError(message) from exc  # 400, 403, 422: retrying cannot help
    except (HTTPError, ConnectionError, OSError) as exc:
        raise TemporaryBackendError(f"{doing}: the cluster API does not answer: {exc}", delay=2.0) from exc
    except ConfigException as exc:
        raise BackendUnavailableError(f"{doing}: {exc}") from exc


def _api_message(exc: ApiException) -> str:
    """The API's own message (a Status object's `message`), else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return f"{body['message']} ({exc.status})"
    return f"{exc.reason or 'error'} ({exc.status})"
