"""The pytest plugin (entry point `pytest11: flow`): fixtures to run pipelines and components on backends.

    def test_training(flow_run, flow_backend):
        result = flow_run("pipeline.yaml", params={"epochs": 1}, mock={"download": {"data": b"1,2\\n"}})
        assert result.outputs["accuracy"] > 0.9

`--flow-backend NAME` (repeatable) or the `flow_backends` ini option choose backends; a test that uses
these fixtures runs once per backend, with the backend in its id; `@pytest.mark.flow_backends(...)` pins
a test to some. A backend that cannot run here (no Docker engine) skips the test, except with CI=true,
where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backends.base import BackendUnavailableError
from runner.api import RunResult, TaskResult
from runner.plugins import register_backend
from runner.selection import BackendUnavailable
from runner.testing.session import FlowSession

DEFAULT_BACKENDS = ["process"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flow", "flow pipelines")
    group.addoption(
        "--flow-backend",
        action="append",
        dest="flow_backends",
        metavar="NAME",
        help="run flow tests on this backend (repeatable): process, docker, k8s, ...",
    )
    parser.addini(
        "flow_backends",
        type="args",
        default=DEFAULT_BACKENDS,
        help="backends flow tests run on when --flow-backend is not given",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Engine tests run pipelines on the in-memory fake by name; users are not offered it.
    register_backend("fake", "backends.fake:FakeBackend")
    config.addinivalue_line("markers", "flow_backends(*names): run this test on these flow backends only")


def selected_backends(config: pytest.Config) -> list[str]:
    chosen: list[str] | None = config.getoption("flow_backends")
    return list(chosen or config.getini("flow_backends") or DEFAULT_BACKENDS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "flow_backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("flow_backends")
    names = list(marker.args) if marker else selected_backends(metafunc.config)
    metafunc.parametrize("flow_backend", names, ids=names, indirect=True)


@pytest.fixture
def flow_backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend this test runs on."""
    return str(getattr(request, "param", selected_backends(request.config)[0]))


@pytest.fixture
def flow_mock() -> dict[str, Any]:
    """Mocks for every `flow_run` of the test: a task or component name (the Python function's too) -> a
    function of the task's inputs, or fixed outputs. A name that matches no task fails the run."""
    return {}


@pytest.fixture
def flow_session(flow_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowSession]:
    """A session on the selected backend with its own store and pipeline root."""
    workdir = tmp_path_factory.mktemp(f"flow-{flow_backend}")
    try:
        session = FlowSession(flow_backend, workdir).__enter__()
    except (BackendUnavailable, BackendUnavailableError) as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true and backend {flow_backend} cannot run: {exc}")
        pytest.skip(f"backend {flow_backend} cannot run here: {exc}")
    try:
        yield session
    finally:
        session.__exit__(None, None, None)


@pytest.fixture
def flow_run(flow_session: FlowSession, flow_mock: dict[str, Any]) -> Callable[..., RunResult]:
    """`flow_run(pipeline, params=None, mock=None, **options)`: run and return the RunResult. `pipeline`:
    an IR YAML or Python file, IR text, or a flow or kfp pipeline object."""

    def run(
        pipeline: Any,
        params: dict[str, Any] | None = None,
        *,
        mock: dict[str, Any] | None = None,
        **options: Any,
    ) -> RunResult:
        return flow_session.run(pipeline, params, mock={**flow_mock, **(mock or {})}, **options)

    return run


@pytest.fixture
def flow_component(flow_session: FlowSession) -> Callable[..., TaskResult]:
    """`flow_component(file, component=None, **inputs)`: run one component, return its TaskResult; one that
    fails raises ComponentFailedError with its error and last output lines."""
    return flow_session.component
