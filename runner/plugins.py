"""Backends are found through the `flow.backends` entry-point group, so third parties can add one."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from backends.base import Backend
from runner.errors import BackendNotFoundError

GROUP = "flow.backends"


def backend_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def create_backend(name: str, **options: Any) -> Backend:
    """An instance of the backend registered as `name`."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            backend_type = ep.load()
            backend: Backend = backend_type(**options)
            return backend
    known = ", ".join(backend_names()) or "none installed"
    raise BackendNotFoundError(f"unknown backend {name!r} (known: {known})", "--backend")
