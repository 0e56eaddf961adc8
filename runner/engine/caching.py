"""Step caching as in KFP: a task whose executor spec and inputs match an earlier success reuses its outputs.

The key covers the executor (image, command, args, env), the output names, the resolved input parameters
and the content digests and metadata of the input artifacts, so a changed input file misses.
`cachingOptions.cacheKey`, where the IR sets one, replaces the computed key. Where a component's function lies
in its file, which flow's SDK writes into the code its command embeds (for tracebacks), is not what the
function does: the key leaves it out, so moving a function within its file keeps its cache.
"""

from __future__ import annotations

import hashlib
import json
import re

from runner.engine.graph import Node
from runner.executor.running import SOURCE_NAME
from runner.spec.model import Container

# The line as flow's SDK writes it: a constant file name and line, which no code can hide in.
_SOURCE_LOCATION = re.compile(rf"^{SOURCE_NAME} = \('[^'\\\n]*', [0-9]+\)$", re.MULTILINE)


def cache_key(node: Node, backend: str, workspace: str = "") -> str:
    """The node's cache key, or "" when it must not be cached (caching off, or not a container task).

    The backend's name is part of the key: the process backend ignores images, so its results stand for
    the host's Python, not for the image, and must not be served to a container run (or the reverse).
    `workspace` names the workspace the task uses, if any: its files are an input no digest covers.
    """
    container = node.component.executor
    if not node.task.enable_cache or not isinstance(container, Container):
        return ""
    if node.task.cache_key:
        return hashlib.sha256(f"custom\0{backend}\0{node.task.cache_key}".encode()).hexdigest()
    material = {
        "backend": backend,
        "image": container.image,
        "command": [_SOURCE_LOCATION.sub(SOURCE_NAME, part) for part in container.command],
        "args": list(container.args),
        "env": container.env,
        "outputs": {
            "parameters": sorted(node.component.outputs.parameters),
            "artifacts": sorted(node.component.outputs.artifacts),
        },
        "parameters": node.params,
        # An artifact is its content and its metadata, which a task reads too; one of unknown content (an
        # imported object flow did not read) counts by its URI.
        "artifacts": {
            name: [[ref.digest or ref.uri, ref.metadata] for ref in refs]
            for name, refs in sorted(node.artifacts.items())
        },
    }
    if workspace:
        material["workspace"] = workspace
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
