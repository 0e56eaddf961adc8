"""Mocked components for tests: a task answered by a Python function or fixed outputs, never run.

A mock gets the task's input parameter values and the host paths of its input artifacts, and returns its
outputs by name: parameter values, and artifact contents (str or bytes) that are written where the task
would have written them. Fixed outputs are the same mapping given up front.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roots.files import RootFiles
from runner import layout
from runner.engine.graph import ArtifactRef, Node
from runner.errors import FlowError, UsageError
from runner.spec.model import Component, PipelineSpec, Task
from runner.spec.parameter_types import check

Mock = Callable[[dict[str, Any]], Mapping[str, Any]] | Mapping[str, Any]
LISTED_NAMES = 30  # in the message for a key that names nothing


class MockError(FlowError):
    """A mock raised, or returned something that does not fit the component's outputs."""


@dataclass(frozen=True)
class _Site:
    """A task's place in the pipeline: its name and the names of the DAG tasks around it, loops unrolled
    to one iteration (`for-loop-2/train`)."""

    path: str
    task: Task
    component: Component


def resolve(mocks: Mapping[str, Mock], spec: PipelineSpec) -> dict[str, Mock]:
    """The mocks keyed by the place (`site_path`) of each task they answer; a UsageError for a key that
    answers no task, more than one component's tasks or a DAG, or a task another key answers too.

    A key is a task name (every task of that name), a component name with or without kfp's "comp-" prefix
    (every task running it), either as the Python function was called (`pick_best` for `pick-best`), or
    a task's place (`for-loop-2/train`) for one task of a component that several run."""
    sites = list(_sites(spec, spec.root, ""))
    answered: dict[str, tuple[str, Mock]] = {}
    unknown: list[str] = []
    for key, mock in mocks.items():
        chosen = _chosen(key, sites)
        if not chosen:
            unknown.append(key)
            continue
        dags = [s.path for s in chosen if s.component.dag is not None]
        if dags:
            inside = [s.path for s in sites if s.path.startswith(f"{dags[0]}/") and s.component.dag is None]
            raise UsageError(
                f"mock {key!r} names the DAG task {dags[0]}, which runs no container of its own; "
                f"mock the tasks in it: {', '.join(inside) or '(none)'}",
                spec.source,
            )
        components = sorted({s.component.name for s in chosen})
        if len(components) > 1:
            matches = ", ".join(f"{s.path} ({s.component.name})" for s in chosen)
            raise UsageError(
                f"mock {key!r} is ambiguous: it names tasks of {len(components)} components: {matches}; "
                f"key it by one of the components' names ({', '.join(components)})",
                spec.source,
            )
        for site in chosen:
            if site.path in answered:
                raise UsageError(
                    f"mocks {answered[site.path][0]!r} and {key!r} both answer task {site.path}", spec.source
                )
            answered[site.path] = (key, mock)
    if unknown:
        raise UsageError(_unknown_message(unknown, sites), spec.source)
    return {path: mock for path, (_, mock) in answered.items()}


def site_path(node: Node) -> str:
    """The node's place in the pipeline as `resolve` keys it: its loop iterations left out."""
    names = [node.task.name]
    scope = node.scope
    while scope.owner is not None:
        names.append(scope.owner.task.name)
        scope = scope.owner.scope
    return "/".join(reversed(names))


def _sites(spec: PipelineSpec, dag: Component, prefix: str) -> Iterator[_Site]:
    """Every task of the pipeline, DAG tasks too, in the order the file lists them (the loader refuses
    components that call each other in a cycle)."""
    assert dag.dag is not None
    for task in dag.dag.tasks.values():
        component = spec.components[task.component]
        site = _Site(f"{prefix}{task.name}", task, component)
        yield site
        if component.dag is not None:
            yield from _sites(spec, component, f"{site.path}/")


def _chosen(key: str, sites: list[_Site]) -> list[_Site]:
    """The tasks a mock's key names (see `resolve`)."""
    if "/" in key:
        return [s for s in sites if s.path == key]
    names = {key, python_name_as_kfp_makes_it(key)}
    return [s for s in sites if s.task.name in names or s.component.name in component_names(key)]


def component_names(name: str) -> set[str]:
    """The component names `name` may stand for: itself, with kfp's "comp-" prefix, and those two for the
    Python function of that name (`pick_best`: `comp-pick-best`)."""
    names = {name, python_name_as_kfp_makes_it(name)}
    return names | {f"comp-{n}" for n in names}


def python_name_as_kfp_makes_it(name: str) -> str:
    """kfp's component and task name for a Python function's (as runner.dsl.types.kebab makes it too):
    `prepare_data` -> `prepare-data`. Not imported from the SDK, which a run of an IR file never loads."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _unknown_message(keys: list[str], sites: list[_Site]) -> str:
    tasks = [s.path for s in sites if s.component.dag is None]
    components = sorted({s.component.name for s in sites if s.component.dag is None})
    known = [*tasks, *components, *(c.removeprefix("comp-") for c in components)]
    named = []
    for key in keys:
        close = difflib.get_close_matches(python_name_as_kfp_makes_it(key), known, n=1)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    which = "mock " + named[0] + " names" if len(named) == 1 else "mocks " + ", ".join(named) + " name"
    return (
        f"{which} no task or component of the pipeline; its tasks: {_listed(tasks)}; "
        f"its components: {_listed(components)}"
    )


def _listed(names: list[str]) -> str:
    """The names, the first few only of a big pipeline's: the message stays a line a person reads."""
    if len(names) <= LISTED_NAMES:
        return ", ".join(names) or "(none)"
    return f"{', '.join(names[:LISTED_NAMES])} and {len(names) - LISTED_NAMES} more"


def answer(
    mock: Mock, node: Node, files: RootFiles, root: Path, run_id: str
) -> tuple[dict[str, Any], dict[str, list[ArtifactRef]]]:
    """The node's outputs as the mock gives them, artifact files written under the root.

    The mock receives its input artifacts as paths under `root`: mocks serve local test runs."""
    where = node.task.where
    inputs: dict[str, Any] = dict(node.params)
    for name, refs in node.artifacts.items():
        paths = [root / ref.uri for ref in refs]
        inputs[name] = paths if len(paths) > 1 else paths[0]
    try:
        given = dict(mock(inputs) if callable(mock) else mock)
    except Exception as exc:  # the user's mock failed: the task fails with its message
        raise MockError(f"the mock raised {type(exc).__name__}: {exc}", where) from exc
    declared = node.component.outputs
    unknown = set(given) - set(declared.parameters) - set(declared.artifacts)
    if unknown:
        raise MockError(f"the mock returned outputs the component does not have: {sorted(unknown)}", where)
    params = {
        name: check(given[name], d.type, where) for name, d in declared.parameters.items() if name in given
    }
    missing = set(declared.parameters) - set(params)
    if missing:
        raise MockError(f"the mock did not return output parameters {sorted(missing)}", where)
    produced: dict[str, list[ArtifactRef]] = {}
    for name, definition in declared.artifacts.items():
        uri = layout.output_uri(run_id, node.path, name)
        content = given.get(name, b"")
        files.write(uri, content.encode() if isinstance(content, str) else bytes(content))
        produced[name] = [ArtifactRef(name=name, uri=uri, type=definition.schema_title)]
    return params, produced
