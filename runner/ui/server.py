"""Serving the UI: `flow ui` in the foreground, `flow run --ui` in a thread beside the run."""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import uvicorn

from runner.errors import UsageError
from runner.ui import DEFAULT_HOST, DEFAULT_PORT
from runner.ui.app import create_app
from runner.ui.security import TOKEN_PARAM, is_loopback, new_token

_START_SECONDS = 10
_PROBE_SECONDS = 1.0


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    token: str | None

    def url(self, fragment: str = "") -> str:
        """The address to open: with the token, which the UI turns into a cookie on first load."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?{TOKEN_PARAM}={quote(self.token)}" if self.token else ""
        return f"http://{host}:{self.port}/{query}{fragment}"


def token_for(host: str, token: str | None) -> str | None:
    """The token the UI requires: the one given, or a new one when it listens beyond this machine."""
    if token is None and not is_loopback(host):
        return new_token()
    return token


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 takes a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is taken (choose another with --port)") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def _server(token: str | None) -> uvicorn.Server:
    app = create_app(token=token)
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))


def serve(host: str, port: int, token: str | None, announce: Callable[[Address], None]) -> None:
    """Serve until interrupted; `announce` is told the address once the socket listens."""
    sock = listen(host, port)
    address = Address(host, sock.getsockname()[1], token)
    server = _server(token)
    announce(address)
    server.run(sockets=[sock])


class BackgroundUI:
    """The UI served from a daemon thread of this process, for as long as the process lives."""

    def __init__(self, sock: socket.socket, token: str | None) -> None:
        host, port = sock.getsockname()[:2]
        self.address = Address(host, port, token)
        self._server = _server(token)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="flow-ui", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_SECONDS
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_START_SECONDS)


def answers_as_flow_ui(address: Address) -> bool:
    """Whether a flow UI that needs no token already serves at `address` (`flow ui` in another terminal)."""
    try:
        with urllib.request.urlopen(
            address.url().split("?")[0] + "api/health", timeout=_PROBE_SECONDS
        ) as reply:
            return bool(json.load(reply).get("app") == "flow-ui")
    except (OSError, ValueError, urllib.error.URLError):
        return False


def ui_for_run(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> tuple[Address, BackgroundUI | None]:
    """The UI a run's page is shown in: a flow UI already on the port, else one started in a thread here (on
    the port, or on a free one when something else holds it)."""
    try:
        sock = listen(host, port)
    except UsageError:
        existing = Address(host, port, None)
        if answers_as_flow_ui(existing):
            return existing, None
        sock = listen(host, 0)
    background = BackgroundUI(sock, None)
    return background.address, background
