"""Who may talk to the UI, and which files of a pipeline root it may hand out.

The UI runs code (a pipeline file it is sent is imported, a run it starts runs), so it requires a token on
every request, as Jupyter does: `flow ui` prints its address with `?token=T`. The token itself is the only
key to the API: `Authorization: Bearer T`, which the page's scripts send, or `?token=T` on what a browser
fetches by itself (an event stream, an image, a frame, a download). A page of another site knows no token.

The page, opened once with `?token=T`, keeps the token in its origin's storage (its port included) and takes
it out of the address. It also gets a cookie named after the port, which opens the page and its scripts
again (a reload, a new tab) but nothing of the API: a browser sends its cookies to every port of the host,
so another local user's server on another port may receive it, and it must not let them in.

With `--no-token` (loopback only, the user's explicit choice) every local user may use the UI; only pages
the browser reached as localhost are answered, so a web page of another site that rebinds its DNS name to
127.0.0.1 (and so sends its own name as Host) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import posixpath
import secrets
from pathlib import Path

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_PARAM = "token"
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_READS = frozenset({"GET", "HEAD"})


class PathRefused(ValueError):
    """A path that does not name something inside the run's folder of the pipeline root."""


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only ever reaches this machine."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def cookie_name(port: int) -> str:
    """The page cookie of the UI on `port`: cookies ignore ports, two UIs on a host must not share one."""
    return f"flow_ui_{port}"


def page_key(token: str) -> str:
    """The page cookie's value: made from the token, so whoever holds the cookie does not hold the token."""
    return hmac.new(token.encode(), b"flow ui page", hashlib.sha256).hexdigest()


def _host_name(host_header: str) -> str:
    """The name part of a Host header: "[::1]:8765" -> "::1", "localhost:80" -> "localhost"."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _is_page(path: str) -> bool:
    """The page and its scripts: what the page cookie opens (they hold no data)."""
    return path == "/" or path.startswith("/static/")


class Guard:
    """ASGI middleware: the token check (when there is a token) and the Host check (when there is none)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if self.token is not None and scope["path"] == "/" and self._given(scope):
            send = self._setting_cookie(scope, send, self.token)
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.token is None:
            if not is_loopback(_host_name(headers.get("host", ""))):
                return PlainTextResponse("this UI answers only to localhost", status_code=403)
            return None
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer ") and _same(bearer.removeprefix("Bearer ").strip(), self.token):
            return None
        if self._given(scope):
            return None
        page_cookie = _cookie(headers, cookie_name(_port(scope)))
        if _is_page(scope["path"]) and _same(page_cookie, page_key(self.token)):
            return None
        return PlainTextResponse(
            "a token is required: open the address `flow ui` printed (it ends in ?token=...)", status_code=401
        )

    def _given(self, scope: Scope) -> bool:
        """Whether the request is a read with the token in its address."""
        assert self.token is not None
        query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
        return scope.get("method", "GET") in _READS and _same(query.get(TOKEN_PARAM, ""), self.token)

    def _setting_cookie(self, scope: Scope, send: Send, token: str) -> Send:
        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append(
                    "set-cookie",
                    f"{cookie_name(_port(scope))}={page_key(token)}; Path=/; HttpOnly; SameSite=Strict",
                )
            await send(message)

        return send_with_cookie


def _same(candidate: str, expected: str) -> bool:
    return bool(candidate) and secrets.compare_digest(candidate.encode(), expected.encode())


def _port(scope: Scope) -> int:
    server = scope.get("server")
    return int(server[1]) if server and server[1] is not None else 0


def _cookie(headers: Headers, name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def run_relative(path: str, run_id: str) -> str:
    """`path` (relative to the pipeline root) normalised, when it names something in the run's folder.

    The check is on the text, so it holds for roots this machine cannot see (a cluster volume).
    """
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise PathRefused(f"not a path relative to the pipeline root: {path!r}")
    if ".." in path.split("/"):
        raise PathRefused(f"'..' is not allowed in a path: {path!r}")
    normal = posixpath.normpath(path)
    if not normal.startswith(f"{run_id}/"):
        raise PathRefused(f"{path!r} is not in run {run_id}'s folder")
    return normal


def resolve_within(root: Path, relative: str) -> Path:
    """The real path of `relative` under a local root, refused when a symbolic link leads out of the root."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(real_root / relative))
    if real != real_root and real_root not in real.parents:
        raise PathRefused(f"{relative!r} leads outside the pipeline root")
    return real
