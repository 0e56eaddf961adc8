"""A task's kfp-kubernetes settings with the names given by parameters resolved, for its backend.

kfp-kubernetes lets a Secret, ConfigMap or PVC be named by a pipeline parameter or an upstream task's
output (`secretNameParameter: {componentInputParameter: ...}`); only the engine knows those values, so it
writes each resolved name where a backend reads a constant one (`secretName`, `configMapName`, the PVC's
`constant`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from runner.engine.graph import Node
from runner.errors import FlowError

# Lists of the executor config whose entries may name their object by a parameter, and where the
# resolved name goes.
NAMED_ENTRIES = {
    "secretAsEnv": ("secretNameParameter", "secretName"),
    "secretAsVolume": ("secretNameParameter", "secretName"),
    "configMapAsEnv": ("configMapNameParameter", "configMapName"),
    "configMapAsVolume": ("configMapNameParameter", "configMapName"),
    "imagePullSecret": ("secretNameParameter", "secretName"),
    "pvcMount": ("pvcNameParameter", "constant"),
}


class PlatformError(FlowError):
    """A name in the task's kubernetes settings has no value; the task fails with this message."""


def resolved(config: Mapping[str, Any], node: Node) -> Mapping[str, Any]:
    """`config` with every parameter-given name replaced by its value for this task (itself, shared,
    when it names nothing that way: most tasks have no kubernetes settings at all)."""
    if not config or not any(config.get(key) for key in NAMED_ENTRIES):
        return config
    result = copy.deepcopy(dict(config))
    for key, (parameter_key, name_key) in NAMED_ENTRIES.items():
        for entry in result.get(key) or []:
            # Older kfp-kubernetes wrote a PVC's name source on the entry itself.
            source = entry.get(parameter_key) or (entry if key == "pvcMount" else None)
            value = _value(source, node, f"{node.task.where}: kubernetes {key}") if source else None
            if value is not None:
                entry[name_key] = value
    return result


def _value(source: Mapping[str, Any], node: Node, where: str) -> str | None:
    scope = node.scope
    if "componentInputParameter" in source:
        key = source["componentInputParameter"]
        if key not in scope.params:
            raise PlatformError(f"no value for the name parameter {key!r}", where)
        return str(scope.params[key])
    if "taskOutputParameter" in source:
        output = source["taskOutputParameter"] or {}
        producer = scope.nodes.get(str(output.get("producerTask")))
        key = str(output.get("outputParameterKey"))
        if producer is None or key not in producer.output_params:
            raise PlatformError(f"no value for the name from {output.get('producerTask')}.{key}", where)
        return str(producer.output_params[key])
    constant = (source.get("runtimeValue") or {}).get("constant")
    return str(constant) if constant is not None else None
