"""The conformance suite with an s3:// pipeline root: mixed into a backend's conformance class, its runs keep
their files in the test S3 server (scripts/s3-up.sh), a fresh prefix per test.

Attempts of a task share no files through an object store, so the retry test counts attempts with a small
HTTP counter on this machine, which containers and pods reach at the Docker bridge gateway.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3
import pytest

from tests.conftest import s3_client_args

BRIDGE_GATEWAY = "172.17.0.1"


class _Counting(BaseHTTPRequestHandler):
    server: CounterServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.counts[path] += 1
            body = str(self.server.counts[path]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests' output is for their own failures."""


class CounterServer(ThreadingHTTPServer):
    """Answers each GET of a path with how many times that path was asked for."""

    def __init__(self) -> None:
        super().__init__(("0.0.0.0", 0), _Counting)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{BRIDGE_GATEWAY}:{self.server_address[1]}"


class S3RootConformance:
    """Mix in before a BackendConformance subclass: the same suite, with an s3:// root."""

    _root: str
    _counter: CounterServer

    @pytest.fixture(autouse=True)
    def _s3_root(self, s3_root: str) -> Iterator[None]:
        self._root = s3_root
        self._counter = CounterServer()
        serving = threading.Thread(target=self._counter.serve_forever, daemon=True)
        serving.start()
        yield
        self._counter.shutdown()
        self._counter.server_close()

    def pipeline_root(self) -> str | None:
        return self._root

    def counted(self, name: str) -> str:
        return f"wget -q -O - '{self._counter.url}/{name}'"


class S3Objects:
    """Mix in before a BackendConformance subclass: the importer's s3:// case imports an object of the test
    S3 server (scripts/s3-up.sh), under a prefix of its own beside the runs' root."""

    def s3_object(self, request: pytest.FixtureRequest, content: bytes) -> str | None:
        root: str = request.getfixturevalue("s3_root")  # the server's AWS settings, the bucket made
        uri = f"{root}-imported/object.txt"
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        client = boto3.session.Session().client("s3", **s3_client_args())
        client.put_object(Bucket=bucket, Key=key, Body=content)
        return uri
