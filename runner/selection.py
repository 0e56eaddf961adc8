"""Which backend a run uses: `local` is Docker when an engine answers, else the process backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from backends.base import Backend, BackendUnavailableError
from runner.errors import UsageError
from runner.plugins import LOCAL as LOCAL
from runner.plugins import backend_class, create_backend

CLUSTER = "k8s"  # what --cluster means

Notify = Callable[[str], None]


class BackendUnavailable(UsageError):
    """The backend asked for cannot run here (no Docker engine, no cluster)."""


def select_backend(
    name: str, *, backend_options: Mapping[str, Any] | None = None, notify: Notify | None = None
) -> Backend:
    """An instance of the backend `name`, or of the best local one for `local`."""
    options = dict(backend_options or {})
    if name == LOCAL:
        if backend_class("docker").available():
            backend = _create("docker", options)
            if notify:
                notify("using the Docker engine for --local")
            return backend
        if notify:
            notify("no Docker engine answers: running each task as a local process (the process backend)")
        return _create("process", {})
    return _create(name, options)


def _create(name: str, options: dict[str, Any]) -> Backend:
    """The backend `name`, given those of `options` it takes (the process backend takes none)."""
    try:
        return create_backend(name, **options)
    except BackendUnavailableError as exc:
        raise BackendUnavailable(str(exc), f"--backend {name}") from None


def select_backend_for_root(
    name: str, root: str, *, backend_options: Mapping[str, Any] | None = None, notify: Notify | None = None
) -> Backend:
    """The backend `name` of a recorded run, reaching its root again (a cluster's namespace and volume
    claim), with `backend_options` for everything else (image map, pull policy, a context)."""
    options = {**backend_class(name).Settings.reaching(root), **(backend_options or {})}
    return select_backend(name, backend_options=options, notify=notify)
