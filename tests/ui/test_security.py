"""Who may use the UI, tried as a web page of another site and as another user of this machine would: the
token on every request (loopback too), a page cookie per port that opens nothing of the API, no redirect."""

from __future__ import annotations

import http.client
import shutil
import socket
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runner.dsl import compile_to_text
from runner.errors import UsageError
from runner.ui.app import create_app
from runner.ui.security import cookie_name, page_key
from runner.ui.server import Address, BackgroundUI, listen, opening_page, token_for, ui_for_run
from tests.ui.conftest import LOOPBACK, Recorded
from tests.ui.pipelines import reports

TOKEN = "s3cret-token"
UI = "http://127.0.0.1:8765"  # only the address the requests name: nothing listens there
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def guarded(recorded: Recorded, tmp_path: Path) -> Iterator[TestClient]:
    """The UI with a token, and a client that carries nothing of it yet."""
    with TestClient(
        create_app(open_store=recorded.store, token=TOKEN, folder=tmp_path), base_url=UI
    ) as client:
        yield client


def routes(recorded: Recorded) -> list[str]:
    """A read of each kind the UI answers: the page, a script, JSON, an event stream, a file, a frame."""
    run_id = recorded.first.run_id
    table = f"?path={run_id}/make-table/table"
    return [
        "/",
        "/static/app.js",
        "/api/health",
        "/api/runs",
        f"/api/runs/{run_id}",
        f"/api/runs/{run_id}/events",
        f"/api/runs/{run_id}/preview{table}",
        f"/api/runs/{run_id}/file{table}",
        f"/sandbox/runs/{run_id}?path={run_id}/make-reports/page",
    ]


def changes(client: TestClient, **request: object) -> list[int]:
    """The statuses of the requests that import a pipeline file and start a run."""
    inspect = client.post("/api/pipelines/inspect", **request)  # type: ignore[arg-type]
    start = client.post("/api/runs", **request)  # type: ignore[arg-type]
    return [inspect.status_code, start.status_code]


PYTHON = {"json": {"name": "hostile.py", "text": "import os\nos.system('touch /tmp/owned')\n"}}


def test_without_the_token_nothing_is_answered_on_loopback_either(
    guarded: TestClient, recorded: Recorded
) -> None:
    for path in routes(recorded):
        refused = guarded.get(path)
        assert refused.status_code == 401, path
        assert (
            refused.text == "a token is required: open the address `flow ui` printed (it ends in ?token=...)"
        )
    assert changes(guarded, **PYTHON) == [401, 401]
    for wrong in ({"headers": {"Authorization": "Bearer not-it"}}, {"params": {"token": "not-it"}}):
        assert guarded.get("/api/runs", **wrong).status_code == 401  # type: ignore[arg-type]
    assert guarded.get("/api/runs", headers={"Authorization": TOKEN}).status_code == 401  # no "Bearer "


def test_the_api_takes_the_token_in_a_header_or_in_the_address_of_a_read(
    guarded: TestClient, recorded: Recorded
) -> None:
    for path in routes(recorded):
        if not path.endswith("/events"):  # a stream goes on while the run may change: not read here
            assert guarded.get(path, headers=BEARER).status_code == 200, path
    with guarded.stream(
        "GET", f"/api/runs/{recorded.first.run_id}/events", params={"token": TOKEN}
    ) as stream:
        assert stream.status_code == 200  # what a browser's EventSource, image or frame sends
    run_id = recorded.first.run_id
    assert (
        guarded.get(f"/api/runs/{run_id}/file?path={run_id}/make-table/table&token={TOKEN}").status_code
        == 200
    )
    form = {"json": {"name": "reports.yaml", "text": compile_to_text(reports)}, "headers": BEARER}
    assert guarded.post("/api/pipelines/inspect", **form).status_code == 200  # type: ignore[arg-type]
    # A change needs the header: the token in the address of a POST is not taken.
    assert changes(guarded, params={"token": TOKEN}, **PYTHON) == [401, 401]


def test_the_page_cookie_is_named_after_the_port_and_opens_the_page_only(
    guarded: TestClient, recorded: Recorded
) -> None:
    first = guarded.get("/", params={"token": TOKEN}, follow_redirects=False)
    assert first.status_code == 200 and '<script type="module" src="/static/app.js">' in first.text
    assert first.headers["referrer-policy"] == "no-referrer"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"flow_ui_8765={page_key(TOKEN)};")
    assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    # The client now sends the cookie, as a browser does to every port of the host.
    assert guarded.get("/").status_code == 200
    assert guarded.get("/static/api.js").status_code == 200
    for path in routes(recorded)[2:]:
        assert guarded.get(path).status_code == 401, path
    assert changes(guarded, **PYTHON) == [401, 401]
    guarded.cookies.clear()
    for cookie in (f"{cookie_name(8766)}={page_key(TOKEN)}", f"{cookie_name(8765)}={TOKEN}"):
        assert guarded.get("/", headers={"Cookie": cookie}).status_code == 401, cookie


def test_a_page_of_another_site_can_neither_read_nor_change_anything(
    guarded: TestClient, recorded: Recorded
) -> None:
    """A hostile page can make the browser send a simple request (no header of its own, a form's body) with
    the UI's cookies (SameSite=Strict holds them back, but say a link was followed), or ask before sending
    more; it knows no token. Pointing its own name at 127.0.0.1 (DNS rebinding) gives it nothing more."""
    guarded.get("/", params={"token": TOKEN})  # the user opened the UI: the page cookie is set
    hostile = {"Origin": "http://attacker.example"}
    assert guarded.get("/api/runs", headers=hostile).status_code == 401
    as_text = {"content": "{}", "headers": {**hostile, "Content-Type": "text/plain"}}
    as_form = {"data": {"name": "x.py", "text": "import os"}, "headers": hostile}
    assert changes(guarded, **as_text) == [401, 401]
    assert changes(guarded, **as_form) == [401, 401]
    asked = guarded.options(
        "/api/runs",
        headers={
            **hostile,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in asked.headers  # so the browser sends nothing with a header
    rebound = {"Host": "attacker.example:8765"}
    assert guarded.get("/api/runs", headers=rebound).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "//evil.com/",
        "/\\evil.com/",
        "/\\/evil.com/",
        "///evil.com/",
        "/%2F%2Fevil.com/",
        "/%2f/evil.com/",
        "/%5Cevil.com/",
        "/%5C%5Cevil.com/",
        "/api/runs/",
        "/static",
    ],
)
def test_no_address_leads_off_the_ui(path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the real server: uvicorn decodes the path itself. The UI never redirects, so nothing it
    answers can send the browser elsewhere."""
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    server = BackgroundUI(listen("127.0.0.1", 0), TOKEN)
    try:
        for query in ("", f"?token={TOKEN}"):
            connection = http.client.HTTPConnection("127.0.0.1", server.address.port, timeout=10)
            connection.request("GET", path + query)
            reply = connection.getresponse()
            reply.read()
            connection.close()
            assert not 300 <= reply.status < 400, (path + query, reply.status, reply.getheader("location"))
            assert reply.getheader("location") is None
    finally:
        server.stop()


def test_the_real_server_names_its_cookie_after_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    server = BackgroundUI(listen("127.0.0.1", 0), TOKEN)
    try:
        with urllib.request.urlopen(server.address.url(), timeout=10) as reply:
            cookie = reply.headers["Set-Cookie"]
        assert cookie.startswith(f"flow_ui_{server.address.port}={page_key(TOKEN)};"), cookie
    finally:
        server.stop()


def test_without_a_token_only_localhost_names_are_answered(recorded: Recorded, tmp_path: Path) -> None:
    app = create_app(open_store=recorded.store, token=None, folder=tmp_path)
    with TestClient(app, base_url=LOOPBACK) as client:
        assert client.get("/api/runs").status_code == 200
        for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
            assert client.get("/api/health", headers={"host": host}).status_code == 200, host
        for host in ("attacker.example", "attacker.example:8765", "192.168.1.5:8765", ""):
            assert client.get("/api/health", headers={"host": host}).status_code == 403, host
        # A change must be JSON, which a page of another site cannot send without asking first.
        assert (
            client.post("/api/runs", content="{}", headers={"Content-Type": "text/plain"}).status_code == 400
        )


def test_a_token_is_always_required_unless_refused_on_loopback_only() -> None:
    made = token_for("127.0.0.1", None)
    assert made and len(made) >= 20 and made != token_for("127.0.0.1", None)
    assert token_for("0.0.0.0", "chosen") == "chosen"
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert token_for(loopback, None, no_token=True) is None
    for beyond in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(UsageError, match=f"--no-token is allowed on loopback only, not on {beyond}"):
            token_for(beyond, None, no_token=True)
    with pytest.raises(UsageError, match="contradict"):
        token_for("127.0.0.1", "chosen", no_token=True)


def test_a_run_s_ui_on_a_taken_port_starts_its_own_with_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever holds the port (a `flow ui` whose token is not ours to know, or anything else), the run's UI
    is its own, on a free port, with a new token."""
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    try:
        address, server = ui_for_run("127.0.0.1", held.getsockname()[1])
        try:
            assert address.port != held.getsockname()[1] and address.token
            assert status(address, None) == 401
            assert status(address, address.token) == 200
        finally:
            server.stop()
    finally:
        held.close()


def status(address: Address, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{address.port}/api/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_browser_is_opened_on_a_page_of_this_user_not_on_the_address_with_the_token() -> None:
    url = 'http://127.0.0.1:8765/?token=T0k3n"<x>#/runs/abc'
    page = opening_page(url)
    try:
        assert "T0k3n" not in page.as_uri()  # what the browser's command line shows to every user
        assert (
            stat.S_IMODE(page.stat().st_mode) == 0o600 and stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        )
        text = page.read_text()
        assert 'content="0;url=http://127.0.0.1:8765/?token=T0k3n&quot;&lt;x&gt;#/runs/abc"' in text
    finally:
        shutil.rmtree(page.parent)
