"""An S3 client configured the usual AWS way, and boto3's errors translated into flow's, in one place.

Endpoint, credentials and region come from the standard environment and config files (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/config...), as for the aws command.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from backends.base import BackendError, PermanentBackendError, TemporaryBackendError

_CONFIG = botocore.config.Config(
    connect_timeout=5,
    read_timeout=60,
    retries={"mode": "standard", "max_attempts": 3},
    # Path-style requests (endpoint/bucket/key) work with every S3-compatible store, virtual hosts not.
    s3={"addressing_style": "path"},
)
# Codes that say a request can never succeed as made: nothing to retry.
_PERMANENT = {
    "AccessDenied": "access denied",
    "InvalidAccessKeyId": "the access key is not known to the store",
    "SignatureDoesNotMatch": "the secret key does not match the access key",
    "NoSuchBucket": "the bucket does not exist",
    "InvalidBucketName": "the bucket name is not valid",
    "403": "access denied",
    "404": "not found",
}


# What chooses the store and the keys: a client is made once per process for each combination.
_SETTINGS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


def make_client() -> Any:
    """A client of the S3 API for the current AWS settings. Made once and shared: making one loads
    botocore's service models, which costs about a second, and clients are safe to share between threads."""
    settings = tuple(os.environ.get(name, "") for name in _SETTINGS_ENV)
    with _clients_lock:
        if settings not in _clients:
            try:
                _clients[settings] = boto3.session.Session().client("s3", config=_CONFIG)
            except botocore.exceptions.BotoCoreError as exc:
                raise PermanentBackendError(f"cannot make an S3 client: {exc}") from exc
        return _clients[settings]


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """Raise what boto3 raises while `doing` as one-line BackendErrors."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in _PERMANENT:
            raise PermanentBackendError(f"{doing}: {_PERMANENT[code]} ({code})") from exc
        raise TemporaryBackendError(f"{doing}: {code or exc}", delay=2.0) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise PermanentBackendError(
            f"{doing}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        ) from exc
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as exc:
        raise TemporaryBackendError(f"{doing}: the S3 endpoint does not answer ({exc})", delay=2.0) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise BackendError(f"{doing}: {exc}") from exc
