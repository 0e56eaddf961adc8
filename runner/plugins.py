"""Backends are found through the `flow.backends` entry-point group, so third parties can add one."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any

from backends.base import Backend
from runner.errors import BackendNotFoundError

GROUP = "flow.backends"


def backend_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def backend_class(name: str) -> type[Backend]:
    """The class registered as backend `name`."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            backend_type: type[Backend] = ep.load()
            return backend_type
    known = ", ".join(backend_names()) or "none installed"
    raise BackendNotFoundError(f"unknown backend {name!r} (known: {known})", "--backend")


def create_backend(name: str, **options: Any) -> Backend:
    """An instance of the backend registered as `name`, given those of `options` its constructor takes:
    options are shared by all backends (an image map means nothing to the process backend)."""
    backend_type = backend_class(name)
    accepted = inspect.signature(backend_type).parameters
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    return backend_type(**{k: v for k, v in options.items() if takes_any or k in accepted})
