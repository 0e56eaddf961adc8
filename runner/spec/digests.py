"""Content digests of a pipeline's components, so a run records exactly which versions it ran.

A component's digest is the sha256 of the canonical JSON (sorted keys, no spaces) of its IR definition and,
for a container or importer, its executor spec: renaming a component or its executor label, or moving it to
another pipeline file, keeps the digest; any change to its interface, image, command or args changes it.
A DAG component stands for the components its tasks call, so their digests replace the references.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from runner.errors import SpecError


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _leaf_digest(component: Mapping[str, Any], executor: Mapping[str, Any] | None) -> str:
    """The digest of one container or importer component: its definition and its executor spec."""
    definition = {k: v for k, v in component.items() if k != "executorLabel"}
    return "sha256:" + hashlib.sha256(_canonical({"component": definition, "executor": executor})).hexdigest()


def component_digests(doc: Mapping[str, Any], source: str) -> dict[str, str]:
    """The digest of every component of a validated PipelineSpec document, by component name."""
    components: Mapping[str, Any] = doc.get("components") or {}
    executors: Mapping[str, Any] = (doc.get("deploymentSpec") or {}).get("executors") or {}
    digests: dict[str, str] = {}
    visiting: list[str] = []

    def digest(node: Mapping[str, Any]) -> str:
        dag = node.get("dag")
        if not isinstance(dag, Mapping):
            return _leaf_digest(node, executors.get(node.get("executorLabel", "")))
        tasks = {
            name: {**task, "componentRef": named(task["componentRef"]["name"])}
            for name, task in (dag.get("tasks") or {}).items()
        }
        return "sha256:" + hashlib.sha256(_canonical({**node, "dag": {**dag, "tasks": tasks}})).hexdigest()

    def named(name: str) -> str:
        if name not in digests:
            if name in visiting:
                chain = " -> ".join([*visiting[visiting.index(name) :], name])
                raise SpecError(f"components call each other in a cycle: {chain}", f"{source}: components")
            visiting.append(name)
            digests[name] = digest(components[name])
            visiting.pop()
        return digests[name]

    for name in components:
        named(name)
    return digests
