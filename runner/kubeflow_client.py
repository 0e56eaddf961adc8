"""Submitting a pipeline to a Kubeflow Pipelines API (v2beta1) instead of running it with flow's engine.

For teams that already run Kubeflow Pipelines: the same IR flow runs goes to their server unchanged, through
the server's own Python client (kfp-server-api, the `kubeflow` extra). The run lives on that server; flow's
store does not record it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
import yaml

from runner.errors import FlowError, UsageError
from runner.spec import PipelineSpec

# The run states after which a Kubeflow run changes no more (V2beta1RuntimeState).
FINAL_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
# Where kfp's own client finds a token inside a cluster; flow honours the same variable.
TOKEN_PATH_VARIABLE = "KF_PIPELINES_SA_TOKEN_PATH"
POLL_FIRST, POLL_MAX = 0.5, 5.0  # seconds between two looks at a run's state


class KubeflowError(FlowError):
    """The Kubeflow Pipelines API refused a request or could not be reached."""


@dataclass(frozen=True)
class KubeflowRun:
    """A run on a Kubeflow Pipelines server, as its API last described it."""

    run_id: str
    state: str
    link: str
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


def run_body(spec: PipelineSpec, params: Mapping[str, Any], root: str | None) -> dict[str, Any]:
    """The body of `POST /apis/v2beta1/runs` for `spec` with typed `params`: the pipeline inline, and its
    kfp-kubernetes platform document beside it when the file has one (the shape kfp's client sends)."""
    documents = [doc for doc in yaml.safe_load_all(spec.text) if doc]
    pipeline_document: dict[str, Any] = documents[0]
    platform_document = {key: value for doc in documents[1:] for key, value in doc.items()}
    runtime_config: dict[str, Any] = {"parameters": dict(params)}
    if root is not None:
        runtime_config["pipeline_root"] = root
    return {
        "display_name": f"{spec.name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "pipeline_spec": (
            {"pipeline_spec": pipeline_document, "platform_spec": platform_document}
            if platform_document
            else pipeline_document
        ),
        "runtime_config": runtime_config,
    }


class KubeflowClient:
    """The few calls flow makes to a Kubeflow Pipelines API at `url` (the address of its `ml-pipeline` service
    or of the Kubeflow dashboard's `/pipeline` prefix)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        try:
            import kfp_server_api
        except ImportError:
            raise UsageError(
                "submitting to Kubeflow needs kfp-server-api: pip install 'flow-pipelines[kubeflow]'",
                "--kubeflow",
            ) from None
        self.url = url.rstrip("/")
        configuration = kfp_server_api.Configuration(host=self.url)
        token = token or _token_from_file()
        if token:
            configuration.api_key["authorization"] = token
            configuration.api_key_prefix["authorization"] = "Bearer"
        self._client = kfp_server_api.ApiClient(configuration)
        self._runs = kfp_server_api.RunServiceApi(self._client)
        self._exception = kfp_server_api.ApiException

    def close(self) -> None:
        self._client.close()

    def create(self, body: Mapping[str, Any]) -> KubeflowRun:
        return self._describe(self._call(lambda: self._runs.run_service_create_run(run=dict(body))))

    def get(self, run_id: str) -> KubeflowRun:
        return self._describe(self._call(lambda: self._runs.run_service_get_run(run_id=run_id)))

    def terminate(self, run_id: str) -> None:
        self._call(lambda: self._runs.run_service_terminate_run(run_id=run_id))

    def wait(self, run_id: str, on_change: Callable[[KubeflowRun], None]) -> KubeflowRun:
        """Poll the run until it is in a final state, reporting each state it is seen in. Polls start
        quick and slow down to one each POLL_MAX seconds, so short runs end promptly and long ones cost
        the server little."""
        seen, interval = "", POLL_FIRST
        while True:
            current = self.get(run_id)
            if current.state != seen:
                seen = current.state
                on_change(current)
            if current.finished:
                return current
            time.sleep(interval)
            interval = min(interval * 2, POLL_MAX)

    def _call(self, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except self._exception as exc:
            raise KubeflowError(
                f"HTTP {exc.status}: {_api_message(exc.body) or exc.reason}", self.url
            ) from None
        except urllib3.exceptions.HTTPError as exc:  # refused, reset or timed-out connections
            raise KubeflowError(f"cannot reach the Kubeflow Pipelines API: {exc}", self.url) from None

    def _describe(self, response: Any) -> KubeflowRun:
        error = response.error.message if response.error is not None and response.error.message else ""
        return KubeflowRun(
            run_id=response.run_id,
            state=response.state or "PENDING",
            link=f"{self.url}/#/runs/details/{response.run_id}",
            error=error,
        )


def _token_from_file() -> str | None:
    path = os.environ.get(TOKEN_PATH_VARIABLE)
    return Path(path).read_text().strip() if path else None


def _api_message(body: Any) -> str:
    """The `message` of the API's JSON error body (a google.rpc.Status), or the body's first line."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        message = json.loads(text).get("message", "")
    except (ValueError, AttributeError):
        message = text
    return str(message).strip().splitlines()[0] if str(message).strip() else ""
