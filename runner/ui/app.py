"""The UI's web app: one page (static/), and the JSON, event-stream and file routes it reads."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from runner import api, tasklogs
from runner.errors import RunNotFoundError, UsageError
from runner.runs.runsession import engine_alive
from runner.store import RunRecord, RunState, Store
from runner.ui import content, events, shapes
from runner.ui.compare import compare
from runner.ui.files import RootReader
from runner.ui.launch import Launcher, backend_choices, find_pipelines
from runner.ui.lineage import consumers
from runner.ui.reader import StoreReader
from runner.ui.security import Guard, PathRefused, run_relative

STATIC = Path(__file__).parent / "static"
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# The address of a file, a frame or the page may carry the token: no link followed from them passes it on.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}
PAGE_HEADERS = {"Content-Security-Policy": PAGE_POLICY, **NO_REFERRER}
# Raw files are never run as a page of the UI's origin, whatever their bytes look like.
RAW_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff", **NO_REFERRER}
SANDBOX_HEADERS = {
    "Content-Security-Policy": f"{content.SANDBOX_POLICY}; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    **NO_REFERRER,
}
INLINE_IMAGES = 50  # artifacts looked at to show images inline
RUNS_SCANNED = 1000  # the runs list searches the text of the newest this many runs of its state and pipeline
PAGE_RUNS = 100
FOLDER_FILES = 200
SANDBOX_BYTES = 20 << 20
LOG_BYTES = 4 << 20  # a log is shown from this far before its end
_FILE_BLOCK = 1 << 20


class Endpoints:
    """The routes' handlers, over one store reader, the roots of the runs and the run launcher."""

    def __init__(self, reader: StoreReader, roots: RootReader, launcher: Launcher) -> None:
        self.reader = reader
        self.roots = roots
        self.launcher = launcher

    def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    def health(self, request: Request) -> Response:
        return JSONResponse({"app": "flow-ui"})

    def runs(self, request: Request) -> Response:
        """A page of the newest runs that match the filters: state, pipeline, and `q`, a text to find in a
        run's id, pipeline, pipeline file or parameter values."""
        state = request.query_params.get("state", "")
        states = [_run_state(state)] if state else []
        pipeline = request.query_params.get("pipeline", "") or None
        text = request.query_params.get("q", "").strip().lower()
        limit = _whole(request, "limit", PAGE_RUNS)
        offset = _whole(request, "offset", 0)

        def listed(store: Store) -> tuple[list[RunRecord], list[str]]:
            return store.runs(RUNS_SCANNED, states=states, pipeline=pipeline), store.pipelines()

        records, pipelines = self.reader.read(listed)
        chosen = [r for r in records if not text or text in _searched_text(r)]
        return JSONResponse(
            {
                "runs": [shapes.run_summary(r) for r in chosen[offset : offset + limit]],
                "total": len(chosen),
                "offset": offset,
                "scanned": RUNS_SCANNED,
                "pipelines": pipelines,
                "states": [s.value for s in RunState],
            }
        )

    def run(self, request: Request) -> Response:
        def detail(store: Store) -> dict[str, Any]:
            record = store.run(request.path_params["run_id"])
            tasks = store.tasks(record.run_id)
            return {
                "run": shapes.run_detail(record),
                "tasks": [shapes.task(t) for t in tasks],
                **events.run_graph(record, tasks),
            }

        return JSONResponse(self.reader.read(detail))

    def run_events(self, request: Request) -> Response:
        record = self._record(request)
        return _event_stream(events.run_updates(self.reader, record.run_id))

    def cancel(self, request: Request) -> Response:
        _require_json(request)
        record = self._record(request)
        if record.state.finished:
            return JSONResponse({"state": record.state.value})
        # A run started from this page has its engine in this process, which engine_alive does not count.
        pid = record.engine_pid
        if pid is not None and (pid == os.getpid() or engine_alive(record)):
            self.reader.read(lambda store: store.request_cancel(record.run_id))
        else:
            from runner.runs.cancel import cancel_orphaned

            self.reader.read(lambda store: cancel_orphaned(store, record))
        return JSONResponse({"state": self.reader.read(lambda store: store.run_state(record.run_id)).value})

    async def resume(self, request: Request) -> Response:
        _require_json(request)
        record = self._record(request)
        run_id = await _in_thread(self.launcher.resume, record)
        return JSONResponse({"run_id": run_id})

    async def rerun(self, request: Request) -> Response:
        body = await _json_body(request)
        task = body.get("task")
        if not isinstance(task, str) or not task:
            raise UsageError("send the path of the task to run again as 'task'")
        record = self._record(request)
        run_id = await _in_thread(self.launcher.rerun, record, task)
        return JSONResponse({"run_id": run_id}, status_code=201)

    async def clone(self, request: Request) -> Response:
        _require_json(request)
        record = self._record(request)
        prepared = await _in_thread(self.launcher.prepare_run, record)
        return JSONResponse(
            {**prepared.form(record.params), "backend": record.backend, "clone_of": record.run_id}
        )

    def artifacts(self, request: Request) -> Response:
        record = self._record(request)
        found, tasks = self.reader.read(
            lambda store: (store.artifacts(record.run_id), store.tasks(record.run_id))
        )
        users = consumers(tasks)
        listed = [
            {
                **shapes.artifact(a),
                "consumers": users.get(a.uri, []),
                "image": index < INLINE_IMAGES and self._is_image(record, a.uri),
            }
            for index, a in enumerate(found)
        ]
        return JSONResponse({"root": record.root, "artifacts": listed})

    def _is_image(self, record: RunRecord, uri: str) -> bool:
        """Whether an artifact is an image file in a local root (others are not opened to find out)."""
        try:
            opened = self.roots.open_local(record, run_relative(uri, record.run_id))
        except PathRefused:
            return False
        if opened is None:
            return False
        fd, _ = opened
        try:
            return content.image_type(os.pread(fd, 16, 0)) is not None
        finally:
            os.close(fd)

    def log(self, request: Request) -> Response:
        record = self._record(request)
        task = self.reader.read(lambda store: store.task(record.run_id, request.path_params["task_path"]))
        if task is None:
            raise RunNotFoundError(f"run {record.run_id} has no task {request.path_params['task_path']!r}")
        path = Path(task.log_path) if task.log_path else None
        attempt = request.query_params.get("attempt")
        if path is not None and attempt is not None:
            if not attempt.isdigit() or not 1 <= int(attempt) <= task.attempts:
                raise UsageError(f"task {task.path} has attempts 1 to {task.attempts}, not {attempt!r}")
            path = path.with_name(f"attempt-{int(attempt)}.log")
        if path is None:
            return PlainTextResponse("")
        if path.is_file():
            with path.open("rb") as handle:
                size = path.stat().st_size
                handle.seek(max(0, size - LOG_BYTES))
                data = handle.read()
        else:  # a detached run's log, on its volume: read a chunk at a time, its end kept
            read, data, size = self._read_elsewhere(record), b"", 0
            while chunk := read(str(path), size):
                size += len(chunk)
                data = (data + chunk)[-LOG_BYTES:]
        text = data.decode("utf-8", errors="replace")
        return PlainTextResponse(text, headers={"X-Log-Truncated": str(size > LOG_BYTES).lower()})

    def log_events(self, request: Request) -> Response:
        record = self._record(request)
        task_path = request.path_params["task_path"]
        return _event_stream(
            events.log_updates(self.reader, record.run_id, task_path, self._read_elsewhere(record))
        )

    def _read_elsewhere(self, record: RunRecord) -> events.LogReader:
        """Reads a log not on this machine: on the run's volume where a detached run's driver wrote it."""
        return lambda path, offset: tasklogs.read_on_volume(
            record, path, offset, lambda: self.roots.files(record)
        )

    def preview(self, request: Request) -> Response:
        record, relative = self._file(request)
        listing = self.roots.folder(record, relative, FOLDER_FILES)
        if listing is not None:
            found, more = listing
            files = [{"path": path, "size": size} for path, size in found]
            return JSONResponse({"kind": "folder", "files": files, "more": more})
        head, size = self.roots.read(record, relative, content.PREVIEW_BYTES)
        file_kind = content.kind(relative, self._artifact_type(record, relative), head)
        return JSONResponse(content.preview(file_kind, head, size))

    def file(self, request: Request) -> Response:
        record, relative = self._file(request)
        name = relative.rsplit("/", 1)[-1]
        download = request.query_params.get("download") == "1"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'} if download else {}
        opened = self.roots.open_local(record, relative)
        if opened is not None:
            fd, info = opened
            media_type = (
                None if download else content.image_type(os.pread(fd, 16, 0))
            ) or "application/octet-stream"
            headers = {**RAW_HEADERS, **disposition, "Content-Length": str(info.st_size)}
            return StreamingResponse(_chunks(fd, info.st_size), media_type=media_type, headers=headers)
        data, _ = self.roots.read(record, relative)
        media_type = (None if download else content.image_type(data[:16])) or "application/octet-stream"
        return Response(data, media_type=media_type, headers={**RAW_HEADERS, **disposition})

    def sandbox(self, request: Request) -> Response:
        """An HTML or Markdown artifact as a page of no origin: it can run no script and load nothing."""
        record, relative = self._file(request)
        data, _ = self.roots.read(record, relative, SANDBOX_BYTES)
        file_kind = content.kind(relative, self._artifact_type(record, relative), data[:4096])
        text = data.decode("utf-8", errors="replace")
        if file_kind == "markdown":
            text = content.markdown_page(text)
        elif file_kind != "html":
            raise UsageError(f"{relative} is {file_kind}, not HTML or Markdown")
        return Response(text, media_type="text/html; charset=utf-8", headers=SANDBOX_HEADERS)

    def compare(self, request: Request) -> Response:
        run_ids = request.query_params.getlist("run")
        return JSONResponse(self.reader.read(lambda store: compare(store, run_ids)))

    def pipelines(self, request: Request) -> Response:
        return JSONResponse(
            {
                "folder": str(self.launcher.folder),
                "files": find_pipelines(self.launcher.folder),
                "backends": backend_choices(),
            }
        )

    async def inspect(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body.get("path"), str):
            prepared = await _in_thread(self.launcher.prepare_file, body["path"])
        elif isinstance(body.get("text"), str):
            prepared = await _in_thread(self.launcher.prepare_upload, str(body.get("name", "")), body["text"])
        else:
            raise UsageError("send a pipeline file's path (under the UI's folder), or its name and text")
        return JSONResponse(prepared.form())

    async def start(self, request: Request) -> Response:
        body = await _json_body(request)
        given = body.get("params") or {}
        if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
            raise UsageError("params must map names to the text of their values")
        run_id = await _in_thread(
            self.launcher.start, str(body.get("pipeline_id", "")), given, str(body.get("backend", ""))
        )
        return JSONResponse({"run_id": run_id}, status_code=201)

    def _record(self, request: Request) -> RunRecord:
        run_id = request.path_params["run_id"]
        return self.reader.read(lambda store: store.run(run_id))

    def _file(self, request: Request) -> tuple[RunRecord, str]:
        record = self._record(request)
        return record, run_relative(request.query_params.get("path", ""), record.run_id)

    def _artifact_type(self, record: RunRecord, relative: str) -> str:
        found = self.reader.read(lambda store: store.artifacts(record.run_id))
        return next((a.type for a in found if a.uri == relative), "")


def _whole(request: Request, name: str, default: int) -> int:
    given = request.query_params.get(name, str(default))
    if not given.isdigit() or len(given) > 9:
        raise UsageError(f"{name} must be a whole number, not {given!r}")
    return int(given)


def _run_state(given: str) -> RunState:
    try:
        return RunState(given)
    except ValueError:
        raise UsageError(
            f"state must be one of {', '.join(s.value for s in RunState)}, not {given!r}"
        ) from None


def _searched_text(record: RunRecord) -> str:
    """What a runs search looks in: the run's id, pipeline, file, and its parameters as name=value."""
    params = " ".join(f"{name}={json.dumps(value)} {value}" for name, value in record.params.items())
    return f"{record.run_id} {record.pipeline} {record.pipeline_file} {params}".lower()


def _require_json(request: Request) -> None:
    # A page of another site can post a form here, but not JSON without the browser asking first.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise UsageError("send application/json")


async def _json_body(request: Request) -> dict[str, Any]:
    _require_json(request)
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise UsageError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


def _chunks(fd: int, size: int) -> Iterator[bytes]:
    """The file's first `size` bytes (its size when opened), a block at a time; closes `fd` at the end."""
    try:
        offset = 0
        while offset < size and (block := os.pread(fd, min(_FILE_BLOCK, size - offset), offset)):
            offset += len(block)
            yield block
    finally:
        os.close(fd)


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(function, *args)


def _event_stream(stream: AsyncIterator[str]) -> Response:
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _error(status: int) -> Callable[[Request, Exception], Response]:
    def handle(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=status)

    return handle


def create_app(
    open_store: Callable[[], Store] = api.open_store, token: str | None = None, folder: Path | None = None
) -> Starlette:
    """The UI over the store `open_store` gives; every request must carry the token (security.Guard), and
    without one (`--no-token`) be addressed to localhost. Pipelines for
    the start form are looked for under `folder` (the working folder)."""
    reader = StoreReader(open_store)
    roots = RootReader()
    launcher = Launcher((folder or Path.cwd()).resolve(), open_store)
    handlers = Endpoints(reader, roots, launcher)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        launcher.close()
        roots.close()
        reader.close()

    run = "/api/runs/{run_id}"
    routes = [
        Route("/", handlers.page),
        Route("/api/health", handlers.health),
        Route("/api/runs", handlers.runs),
        Route("/api/runs", handlers.start, methods=["POST"]),
        Route(run, handlers.run),
        Route(f"{run}/events", handlers.run_events),
        Route(f"{run}/cancel", handlers.cancel, methods=["POST"]),
        Route(f"{run}/resume", handlers.resume, methods=["POST"]),
        Route(f"{run}/rerun", handlers.rerun, methods=["POST"]),
        Route(f"{run}/clone", handlers.clone, methods=["POST"]),
        Route(f"{run}/artifacts", handlers.artifacts),
        Route(f"{run}/logs/{{task_path:path}}", handlers.log),
        Route(f"{run}/log-events/{{task_path:path}}", handlers.log_events),
        Route(f"{run}/preview", handlers.preview),
        Route(f"{run}/file", handlers.file),
        Route("/sandbox/runs/{run_id}", handlers.sandbox),
        Route("/api/compare", handlers.compare),
        Route("/api/pipelines", handlers.pipelines),
        Route("/api/pipelines/inspect", handlers.inspect, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token)],
        exception_handlers={
            RunNotFoundError: _error(404),
            PathRefused: _error(403),
            UsageError: _error(400),
        },
        lifespan=lifespan,
    )
    # The UI redirects nowhere: Starlette's redirect of "/x/" to "/x" would build its target from the Host
    # header, and the page never needs it.
    app.router.redirect_slashes = False
    return app
