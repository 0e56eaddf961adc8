"""The detach capability: a backend that runs a run's engine itself, beside the run's tasks, so that the
machine that started the run may go away (`flow run --detach`).

The engine it runs is flow's own (`flow driver RUN`), reading and writing the run store; the backend only
starts it, says how it is doing, and removes it. A backend without this capability is refused by
`flow run --detach` in one line.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EngineLaunch:
    """The engine of one detached run, as its backend starts it."""

    run_id: str
    root: str  # as `detached_root` gave it
    command: tuple[str, ...]  # the engine's command line, with no secret in it
    store_url: str  # the run store's address; it holds a password, so the backend keeps it secret
    image: str | None = None  # the image with flow in it; None: the backend's default
    account: str | None = None  # who the engine acts as in the backend; None: the backend's default


@dataclass(frozen=True)
class DetachedEngine:
    """What the backend keeps of a detached run's engine."""

    place: str  # for messages: where it runs, e.g. "the cluster (driver Job flow-driver-ab12)"
    running: bool  # an engine runs (or starts) now; else it ended and only its record is left


class Detaching(abc.ABC):
    """A backend that can run detached runs; `runner.runs.detach` drives the rest through these methods."""

    @classmethod
    @abc.abstractmethod
    def check_detached_root(cls, requested: str) -> None:
        """Refuse (BackendError) a pipeline root asked for that a detached run's engine cannot use, before
        anything is made or reached."""

    @classmethod
    @abc.abstractmethod
    def engine_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The backend options for the engine where the backend runs it: those that name this machine's view
        of the backend (a kubeconfig and its context) left out."""

    @abc.abstractmethod
    def detached_root(self, requested: str | None, default: Path) -> str:
        """A new detached run's pipeline root, as `Backend.pipeline_root` gives it, made and reachable from
        where the engine will run."""

    @abc.abstractmethod
    def start_engine(self, launch: EngineLaunch) -> None:
        """Start the run's engine; what it made is removed again when this fails (BackendError)."""

    @abc.abstractmethod
    def engine_problem(self, launch: EngineLaunch) -> str:
        """Why the run's engine cannot run (a missing image, a failed start, with its last words); "" while
        it starts or runs."""

    @abc.abstractmethod
    def detached_engine(self, run_id: str) -> DetachedEngine | None:
        """The run's engine as the backend keeps it; None when it keeps none (never had, or removed)."""

    @abc.abstractmethod
    def remove_engine(self, run_id: str) -> None:
        """Stop and remove the run's engine, so that none comes back, and wait until it is gone."""

    @classmethod
    @abc.abstractmethod
    def ran_engine(cls, run_id: str, engine_host: str) -> bool:
        """Whether the host a run's store records for its last engine was one this backend ran for it."""
