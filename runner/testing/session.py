"""Running pipelines and single components for tests, without pytest: the plugin's fixtures wrap these.

with FlowSession("docker", workdir) as session:
    result = session.run("pipeline.yaml", params={"n": 3}, mock={"train": {"model": b"fake"}})
    assert_succeeded(result)
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from backends.base import Backend
from roots import kinds
from runner import api
from runner.config import load_config
from runner.engine.mocks import Mock, component_names
from runner.errors import UsageError
from runner.selection import select_backend
from runner.spec import PipelineSpec, load_text
from runner.spec.yamldoc import dump_documents
from runner.store import Store
from runner.testing.assertions import ComponentFailedError


class FlowSession:
    """A backend, a pipeline root and a store of its own, under one folder (the store FLOW_STORE names
    instead, when it names one); closed on exit."""

    def __init__(
        self,
        backend: str | Backend,
        workdir: Path,
        backend_options: Mapping[str, Any] | None = None,
        root: str | None = None,
    ) -> None:
        """`root`: the runs' pipeline root (`s3://bucket/prefix`, say) instead of a folder under `workdir`."""
        self.workdir = workdir
        self.root = workdir / "root"
        self.pipeline_root = root
        self._backend_arg = backend
        self._backend_options = backend_options
        self.backend: Backend | None = None
        self.store: Store | None = None
        self._previous_home: str | None = None

    def __enter__(self) -> FlowSession:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Logs and the default root follow FLOW_HOME: point it here so tests never touch the user's runs.
        self._previous_home = os.environ.get("FLOW_HOME")
        os.environ["FLOW_HOME"] = str(self.workdir)
        self.store = api.open_store()
        if isinstance(self._backend_arg, Backend):
            self.backend = self._backend_arg
        else:
            options = self._backend_options
            if options is None:
                config = load_config()
                options = config.backend
            self.backend = select_backend(self._backend_arg, backend_options=options)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.backend is not None and not isinstance(self._backend_arg, Backend):
            self.backend.close()
        if self.store is not None:
            self.store.close()
        if self._previous_home is None:
            os.environ.pop("FLOW_HOME", None)
        else:
            os.environ["FLOW_HOME"] = self._previous_home

    def read_artifact(self, result: api.RunResult, artifact: api.ArtifactResult) -> bytes:
        """A file artifact's content, wherever the run's backend keeps its root (a cluster volume too)."""
        assert self.backend is not None, "use FlowSession as a context manager"
        found = kinds.view(self.backend, result.root).files().read([artifact.uri])
        if artifact.uri not in found:
            raise AssertionError(f"artifact {artifact.uri} is not a file in {result.root}")
        return found[artifact.uri]

    @property
    def backend_name(self) -> str:
        assert self.backend is not None, "use FlowSession as a context manager"
        return self.backend.name

    def run(
        self,
        pipeline: Any,
        params: Mapping[str, Any] | None = None,
        *,
        mock: Mapping[str, Mock] | None = None,
        **options: Any,
    ) -> api.RunResult:
        """Run a pipeline on this session's backend: an IR YAML or Python file, IR text, a spec, or a flow or
        kfp pipeline object (`function=` picks one pipeline of a Python file); returns its RunResult."""
        assert self.backend is not None and self.store is not None, "use FlowSession as a context manager"
        return api.run(
            pipeline,
            backend=self.backend,
            params=params,
            root=self.pipeline_root or self.backend.default_root(self.root),
            store=self.store,
            mock=mock,
            **options,
        )

    def component(self, pipeline: Any, component: str | None = None, **inputs: Any) -> api.TaskResult:
        """Run one component with the given inputs and return its task's result.

        `pipeline` is a component YAML (kfp's compiled component), a pipeline file, or anything else `run`
        takes; `component` names one of its components (`train`, `comp-train`, or the Python function's
        name) when it holds several. A task that does not succeed raises ComponentFailedError.
        """
        spec_text = _single_component_pipeline(api.load_pipeline(pipeline), component)
        result = self.run(spec_text, params=inputs)
        leaves = [t for t in result.tasks.values() if t.kind != "dag"]
        if len(leaves) != 1:
            raise UsageError(f"expected one task, the run had {len(leaves)}", str(pipeline))
        if not leaves[0].state.ok:
            raise ComponentFailedError(leaves[0], result)
        return leaves[0]


def _single_component_pipeline(spec: PipelineSpec, component: str | None) -> str:
    """IR text of a pipeline running just `component`, its inputs as the pipeline's parameters."""
    path = spec.source
    names = [n for n, c in spec.components.items() if c.executor is not None]
    if component is None:
        if len(names) != 1:
            raise UsageError(f"the file has {len(names)} components; name one: {', '.join(names)}", path)
        component = names[0]
    matches = sorted(component_names(component) & set(names))
    if len(matches) != 1:
        problem = f"names {len(matches)} components" if matches else "names no container component"
        raise UsageError(f"{component!r} {problem} (it has: {', '.join(names)})", path)
    wanted = matches[0]
    doc = next(d for d in yaml.safe_load_all(spec.text) if d)
    node = copy.deepcopy(doc["components"][wanted])
    label = node["executorLabel"]
    inputs = node.get("inputDefinitions", {})
    task_inputs: dict[str, Any] = {}
    for name in inputs.get("parameters", {}):
        task_inputs.setdefault("parameters", {})[name] = {"componentInputParameter": name}
    if inputs.get("artifacts"):
        raise UsageError(f"component {component!r} takes input artifacts; run it in a pipeline", path)
    return load_text(
        dump_documents(  # the component's inputs are the pipeline's too: no aliases for them
            {
                "pipelineInfo": {"name": f"component-{wanted.removeprefix('comp-')}"},
                "schemaVersion": "2.1.0",
                "components": {wanted: node},
                "deploymentSpec": {"executors": {label: doc["deploymentSpec"]["executors"][label]}},
                "root": {
                    "inputDefinitions": inputs,
                    "dag": {
                        "tasks": {
                            wanted.removeprefix("comp-"): {
                                "componentRef": {"name": wanted},
                                "taskInfo": {"name": wanted.removeprefix("comp-")},
                                "inputs": task_inputs,
                            }
                        }
                    },
                },
            }
        ),
        path,
    ).text
