"""A stand-in for a Kubeflow Pipelines API server (the v2beta1 runs service), for `flow run --kubeflow`.

No real Kubeflow Pipelines server can run on these machines: it needs MySQL, Argo Workflows and images from
gcr.io, and there is no registry to pull them from. This server serves the documented shape of the calls flow
makes (create, get and terminate a run) and checks what it receives the way the real one does: the run
body's fields are those of kfp-server-api's V2beta1Run, and the inline pipeline (and its platform document)
must parse as kfp's PipelineSpec (PlatformSpec) protos, unknown fields refused.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_server_api import V2beta1Run

RUNS = "/apis/v2beta1/runs"


@dataclass
class StoredRun:
    body: dict[str, Any]
    states: Iterator[str]  # the states later GETs report, one per GET; the last one repeats
    state: str = "PENDING"


@dataclass
class KubeflowStandIn:
    """The server's runs, the outcome the next run will have, and the token it requires (if any)."""

    outcome: str = "SUCCEEDED"
    token: str | None = None
    runs: dict[str, StoredRun] = field(default_factory=dict)
    terminated: list[str] = field(default_factory=list)
    url: str = ""
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - set(V2beta1Run.attribute_map.values())
        if unknown:
            raise ValueError(f"unknown run fields {sorted(unknown)}")
        spec = body["pipeline_spec"]
        if "platform_spec" in spec:
            json_format.ParseDict(spec["platform_spec"], pipeline_spec_pb2.PlatformSpec())
            spec = spec["pipeline_spec"]
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
        run_id = f"run-{next(self._ids)}"
        states = itertools.chain(["RUNNING", self.outcome], itertools.repeat(self.outcome))
        self.runs[run_id] = StoredRun(body, states)
        return self.describe(run_id)

    def get(self, run_id: str) -> dict[str, Any]:
        run = self.runs[run_id]
        run.state = next(run.states)
        return self.describe(run_id)

    def terminate(self, run_id: str) -> None:
        self.terminated.append(run_id)
        self.runs[run_id].states = itertools.chain(["CANCELING"], itertools.repeat("CANCELED"))

    def describe(self, run_id: str) -> dict[str, Any]:
        run = self.runs[run_id]
        described: dict[str, Any] = {
            "run_id": run_id,
            "display_name": run.body["display_name"],
            "state": run.state,
            "runtime_config": run.body["runtime_config"],
            "created_at": "2026-11-27T10:00:00Z",
        }
        if run.state == "FAILED":
            described["error"] = {"code": 2, "message": "task train failed"}
        return described


def serve(stand_in: KubeflowStandIn) -> ThreadingHTTPServer:
    """Serve `stand_in` on a free loopback port in a daemon thread; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if not self.authorized():
                return
            if self.path == RUNS:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    self.reply(200, stand_in.create(json.loads(self.rfile.read(length))))
                except (ValueError, KeyError, json_format.ParseError) as exc:
                    self.reply(400, {"code": 3, "message": f"invalid run: {exc}"})
            elif self.path.startswith(RUNS + "/") and self.path.endswith(":terminate"):
                run_id = self.path[len(RUNS) + 1 : -len(":terminate")]
                if run_id not in stand_in.runs:
                    self.reply(404, {"code": 5, "message": f"run {run_id} not found"})
                    return
                stand_in.terminate(run_id)
                self.reply(200, {})
            else:
                self.reply(404, {"code": 5, "message": "no such method"})

        def do_GET(self) -> None:
            if not self.authorized():
                return
            run_id = self.path[len(RUNS) + 1 :] if self.path.startswith(RUNS + "/") else ""
            if run_id not in stand_in.runs:
                self.reply(404, {"code": 5, "message": f"run {run_id} not found"})
                return
            self.reply(200, stand_in.get(run_id))

        def authorized(self) -> bool:
            if stand_in.token is None or self.headers.get("Authorization") == f"Bearer {stand_in.token}":
                return True
            self.reply(401, {"code": 16, "message": "request is not authenticated"})
            return False

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests assert on what the server stored, not on its access log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
