"""How a backend declares its settings: a frozen dataclass, each field made with `setting`, which says the
field's command-line option (`--field-name`) and whether `flow.yaml` may set it too (its key is the field's
name). `flow run` and the commands that make a backend offer every backend's options, grouped by backend
in their help; the config file's keys are read by the same declarations.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# When a backend that runs images pulls one (the same words on every backend and in flow.yaml).
PULL_POLICIES = ("never", "missing", "always")


class Kind(enum.Enum):
    """How an option's value is written on the command line."""

    TEXT = "text"
    FLAG = "flag"  # given or not
    SECONDS = "seconds"  # a number, at least 0
    CHOICE = "choice"  # one of `choices`
    IMAGE_MAP = "image-map"  # FROM=TO, repeated; a mapping of images in flow.yaml


@dataclass(frozen=True)
class Option:
    """What a settings field says about its option."""

    help: str
    kind: Kind = Kind.TEXT
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    config: bool = False  # flow.yaml may set it
    cli: bool = True  # an option of the commands (else only for the Python API)


def setting(default: Any = None, help: str = "", **option: Any) -> Any:
    """A settings field: its default and its Option (help, kind, metavar, choices, config, cli)."""
    described = {"option": Option(help, **option)}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=described)
    return field(default=default, metadata=described)


def option_of(item: dataclasses.Field[Any]) -> Option:
    found = item.metadata.get("option")
    if not isinstance(found, Option):
        raise TypeError(f"settings field {item.name!r} is not made with backends.settings.setting")
    return found


@dataclass(frozen=True)
class BackendSettings:
    """A backend's settings; this one has none. Subclasses add fields made with `setting`."""

    @classmethod
    def reaching(cls, root: str) -> dict[str, Any]:
        """The settings that reach a recorded run's root again (for resume, logs, cancel): by default none,
        a root being reachable from anywhere."""
        return {}


@dataclass(frozen=True)
class ContainerSettings(BackendSettings):
    """The settings of backends that run images."""

    image_map: Mapping[str, str] = setting(
        {},
        "Run image TO wherever the pipeline names FROM (also `image_map` in flow.yaml).",
        kind=Kind.IMAGE_MAP,
        metavar="FROM=TO",
        config=True,
    )
    pull: str = setting(
        "missing",
        "When to pull images [default: missing].",
        kind=Kind.CHOICE,
        choices=PULL_POLICIES,
        config=True,
    )
    keep_failed: bool = setting(False, "Keep the containers of failed tasks for inspection.", kind=Kind.FLAG)
    run_as_non_root: bool = setting(
        False, "Run task containers and pods as user 65534 (nobody), never as root.", kind=Kind.FLAG
    )

    def __post_init__(self) -> None:
        if self.pull not in PULL_POLICIES:
            raise ValueError(f"pull policy must be one of {', '.join(PULL_POLICIES)}, not {self.pull!r}")
