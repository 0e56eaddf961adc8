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
from runner.suggestions import did_you_mean

GROUP = "flow.backends"
# What `--backend local` means, resolved by runner.selection: Docker when an engine answers, else processes.
LOCAL = "local"
# Backends registered in this process only, never offered to users: the pytest plugin's fake.
_REGISTERED_HERE: dict[str, EntryPoint] = {}


@functools.cache
def _installed() -> dict[str, EntryPoint]:
    """The installed backends, read once: reading the installed packages' entry points takes a while."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def register_backend(name: str, target: str) -> None:
    """Make the class at `target` ("module:Class", loaded when first used) backend `name` in this process,
    without offering it: flow's commands do not list it, `backend_names()` leaves it out."""
    _REGISTERED_HERE[name] = EntryPoint(name, target, GROUP)


def backend_names() -> list[str]:
    """The installed backends, the ones offered to users (in help, completion and the UI)."""
    return sorted(_installed())


def backend_class(name: str) -> type[Backend]:
    """The class registered as backend `name`."""
    found = _installed().get(name) or _REGISTERED_HERE.get(name)
    if found is not None:
        backend_type: type[Backend] = found.load()
        return backend_type
    offered = [LOCAL, *backend_names()]
    raise BackendNotFoundError(
        f"unknown backend {name!r} (known: {', '.join(offered)}){did_you_mean(name, offered)}", "--backend"
    )


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
