"""Backends are found through the `flow.backends` entry-point group, so third parties can add one."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from backends.base import Backend
from backends.settings import Option, option_of
from runner.errors import BackendNotFoundError

GROUP = "flow.backends"


@functools.cache
def _registered() -> dict[str, EntryPoint]:
    """The installed backends, read once: reading the installed packages' entry points takes a while."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def backend_names() -> list[str]:
    return sorted(_registered())


def backend_class(name: str) -> type[Backend]:
    """The class registered as backend `name`."""
    if name in _registered():
        backend_type: type[Backend] = _registered()[name].load()
        return backend_type
    known = ", ".join(backend_names()) or "none installed"
    raise BackendNotFoundError(f"unknown backend {name!r} (known: {known})", "--backend")


def create_backend(name: str, **options: Any) -> Backend:
    """An instance of the backend registered as `name`, given those of `options` its settings declare:
    options are shared by all backends (an image map means nothing to the process backend)."""
    backend_type = backend_class(name)
    accepted = {item.name for item in dataclasses.fields(backend_type.Settings)}
    return backend_type(**{k: v for k, v in options.items() if k in accepted})


@dataclass(frozen=True)
class Declared:
    """A setting of one or more backends: its name, its option, and the backends that declare it."""

    name: str
    option: Option
    backends: tuple[str, ...]


@functools.cache
def declared_settings() -> tuple[Declared, ...]:
    """Every installed backend's settings, in the order they declare them; one entry for a setting several
    declare (by a settings class they share), as the first of them declares it."""
    found: dict[str, tuple[Option, list[str]]] = {}
    for name in backend_names():
        for item in dataclasses.fields(backend_class(name).Settings):
            found.setdefault(item.name, (option_of(item), []))[1].append(name)
    return tuple(Declared(name, option, tuple(backends)) for name, (option, backends) in found.items())
