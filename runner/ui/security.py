"""Who may talk to the UI, and which files of a pipeline root it may hand out.

On loopback with no token, only pages that the browser reached as localhost are answered: a web page of
another site that rebinds its DNS name to 127.0.0.1 sends its own name as Host and is refused. Anywhere
else a token is required on every request: `Authorization: Bearer T`, or the cookie set when a page is
first opened with `?token=T`.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import secrets
from pathlib import Path
from urllib.parse import urlencode

from starlette.datastructures import URL, Headers, QueryParams
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_COOKIE = "flow_ui_token"
TOKEN_PARAM = "token"
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


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


def _host_name(host_header: str) -> str:
    """The name part of a Host header: "[::1]:8765" -> "::1", "localhost:80" -> "localhost"."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


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
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.token is None:
            if not is_loopback(_host_name(headers.get("host", ""))):
                return PlainTextResponse("this UI answers only to localhost", status_code=403)
            return None
        url = URL(scope=scope)
        query = QueryParams(url.query)
        given = query.get(TOKEN_PARAM)
        if given is not None and scope.get("method") == "GET" and self._matches(given):
            # The token moves from the address into a cookie, so it is not left in the history or logs.
            rest = urlencode([(k, v) for k, v in query.multi_items() if k != TOKEN_PARAM])
            response = RedirectResponse(f"{url.path}?{rest}" if rest else url.path, status_code=303)
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
            return response
        bearer = headers.get("authorization", "")
        candidates = [bearer.removeprefix("Bearer ").strip()] if bearer.startswith("Bearer ") else []
        candidates.append(_cookie(headers, TOKEN_COOKIE))
        if any(self._matches(candidate) for candidate in candidates):
            return None
        return PlainTextResponse(
            "a token is required: open the address `flow ui` printed (it ends in ?token=...)", status_code=401
        )

    def _matches(self, candidate: str) -> bool:
        assert self.token is not None
        return bool(candidate) and secrets.compare_digest(candidate.encode(), self.token.encode())


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
