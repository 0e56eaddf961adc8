"""Serving the UI: `flow ui` in the foreground, `flow run --ui` in a thread beside the run."""

from __future__ import annotations

import errno
import html
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette

from runner.errors import UsageError
from runner.ui import DEFAULT_HOST, DEFAULT_PORT
from runner.ui.app import create_app
from runner.ui.security import TOKEN_PARAM, is_loopback, new_token

_START_SECONDS = 10


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    token: str | None

    def url(self, fragment: str = "") -> str:
        """The address to open: with the token, which the page keeps and takes out of the address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?{TOKEN_PARAM}={quote(self.token)}" if self.token else ""
        return f"http://{host}:{self.port}/{query}{fragment}"


def token_for(host: str, token: str | None, no_token: bool = False) -> str | None:
    """The token the UI requires: the one given, else a new one; None only with `no_token`, which loopback
    alone allows (on any other address, anyone who reaches it could run code as this user)."""
    if no_token:
        if token is not None:
            raise UsageError("--token and --no-token contradict each other", "flow ui")
        if not is_loopback(host):
            raise UsageError(f"--no-token is allowed on loopback only, not on {host}", "flow ui")
        return None
    return token or new_token()


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


def _server(token: str | None, app: Starlette | None = None) -> uvicorn.Server:
    app = app or create_app(token=token)
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

    def __init__(self, sock: socket.socket, token: str | None, app: Starlette | None = None) -> None:
        """`app`: one made with `token` (create_app) over another store or folder; else the default."""
        host, port = sock.getsockname()[:2]
        self.address = Address(host, port, token)
        self._server = _server(token, app)
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


def ui_for_run(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> tuple[Address, BackgroundUI]:
    """The UI a run's page is shown in, started in a thread here with a token of its own: on the port, or on
    a free one when something else holds it. A `flow ui` already serving is not reused: its token is known
    only to whoever started it."""
    try:
        sock = listen(host, port)
    except UsageError:
        sock = listen(host, 0)
    background = BackgroundUI(sock, new_token())
    return background.address, background


def opening_page(url: str) -> Path:
    """A page only this user can read that sends the browser on to `url`. A browser is started with the
    page's path rather than the address: any user of the machine can read a command line, and the token."""
    folder = Path(tempfile.mkdtemp(prefix="flow-ui-"))  # mkdtemp makes it readable by this user alone
    page = folder / "open.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f'<!doctype html><meta http-equiv="refresh" content="0;url={html.escape(url)}">\n')
    return page
