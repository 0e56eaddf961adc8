"""User settings from config files: the user's `$XDG_CONFIG_HOME/flow/config.yaml`
(`~/.config/flow/config.yaml` when XDG_CONFIG_HOME is unset), then `flow.yaml` in the working folder, whose
keys win; the command line wins over both (an image map given there adds to theirs).

image_map:            # replace images, for air-gapped machines and mirrors
  python:3.11: mirror.example/python:3.11
pull: missing         # never | missing | always
max_parameter_size: 1Mi  # the largest output parameter a task may hand back (bytes, or 4Mi, 10M...)

Besides the engine's own key (max_parameter_size), the keys are the backend settings declared with
`config=True` (backends/settings.py): image_map and pull. Another key is an error naming the file.

A config file says which images run and with which pull policy, so it is read only when it belongs to the
user running flow and no other user may write it: a `flow.yaml` someone else left in a shared folder is
ignored, with one warning line.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backends.settings import Kind
from runner.errors import FlowError, UsageError
from runner.plugins import Declared, declared_settings
from runner.spec.quantities import parse_memory
from runner.suggestions import did_you_mean

DEFAULT_MAX_PARAMETER_BYTES = 1 << 20
WORKING_FOLDER_CONFIG = Path("flow.yaml")
MAX_PARAMETER_SIZE = "max_parameter_size"

_warned: set[str] = set()  # the files whose warning this process printed: one line each


@dataclass
class Config:
    # The backend settings the files set, as backend options (for backends.settings' declarations).
    backend: dict[str, Any] = field(default_factory=dict)
    max_parameter_bytes: int = DEFAULT_MAX_PARAMETER_BYTES
    sources: list[str] = field(default_factory=list)  # the files read, in the order applied


def user_config_path() -> Path | None:
    """`$XDG_CONFIG_HOME/flow/config.yaml`; a relative XDG_CONFIG_HOME is ignored, as the XDG spec says."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(base):
        return Path(base) / "flow" / "config.yaml"
    try:
        return Path.home() / ".config" / "flow" / "config.yaml"
    except RuntimeError:  # no home folder to find
        return None


def config_paths() -> list[Path]:
    """The config files flow reads where they exist, in the order applied: a later one's keys win."""
    user = user_config_path()
    return [*([user] if user is not None else []), WORKING_FOLDER_CONFIG]


def load_config() -> Config:
    """The settings of the config files; UsageError naming the file for a bad one."""
    config = Config()
    for path in config_paths():
        data = _read(path)
        if data is None:
            continue
        backend = _backend_settings(data, path)
        if "image_map" in backend:  # a mirror set for one project adds to the user's
            backend["image_map"] = {**config.backend.get("image_map", {}), **backend["image_map"]}
        config.backend.update(backend)
        if data.get(MAX_PARAMETER_SIZE) is not None:
            config.max_parameter_bytes = _max_parameter_bytes(data[MAX_PARAMETER_SIZE], path)
        config.sources.append(str(path))
    return config


def _read(path: Path) -> dict[str, Any] | None:
    """The mapping in the config file `path`; None when there is none, or when it is not the user's own."""
    try:
        # Not blocking: a FIFO someone named flow.yaml would hang the open.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read the config file: {exc.strerror}", str(path)) from None
    with os.fdopen(descriptor, "rb") as file:
        # Checked on the file opened, so that it cannot be swapped between the check and the read.
        refused = _not_own(os.fstat(file.fileno()))
        text = b"" if refused else file.read()
    if refused:
        if os.path.abspath(path) not in _warned:
            _warned.add(os.path.abspath(path))
            print(f"warning: ignoring the config file {path}: {refused}", file=sys.stderr)
        return None
    try:
        data: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"not YAML: {' '.join(str(exc).split())}", str(path)) from None
    if not isinstance(data, dict):
        raise UsageError("the config file must be a mapping", str(path))
    return data


def _not_own(info: os.stat_result) -> str | None:
    """Why a file with this status is not the user's own to trust, or None when it is. Group members may
    write it, as in a team's shared project (git trusts such a repository too); other users may not."""
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # no owners to compare (Windows)
        return None
    if info.st_uid != getuid():
        return f"it belongs to another user (uid {info.st_uid}), so it could set the images you run"
    if info.st_mode & stat.S_IWOTH:
        return f"every user may write it (mode {stat.S_IMODE(info.st_mode):o}): chmod o-w it to use it"
    return None


def _backend_settings(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The backend settings of a config file's mapping, each checked; an unknown key is a UsageError."""
    declared = {item.name: item for item in declared_settings()}
    keys = [name for name, item in declared.items() if item.option.config] + [MAX_PARAMETER_SIZE]
    for key in data:
        if key in keys:
            continue
        item = declared.get(str(key))
        if item is not None:
            flag = f"--{item.name.replace('_', '-')}"
            raise UsageError(f"{key} is a command-line option only ({flag}), not a config key", str(path))
        raise UsageError(
            f"unknown key {key!r} (the keys: {', '.join(keys)}){did_you_mean(str(key), keys)}", str(path)
        )
    return {
        name: _setting(declared[name], data[name], f"{path}: {name}")
        for name in keys
        if name in declared and data.get(name) is not None
    }


def _setting(item: Declared, value: Any, where: str) -> Any:
    """A backend setting's value in the file, checked as its declaration says."""
    option = item.option
    if option.kind == Kind.IMAGE_MAP:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise UsageError("must map image names to image names", where)
        return {str(k): v for k, v in value.items()}
    if option.kind == Kind.CHOICE:
        if value not in option.choices:
            raise UsageError(f"must be one of {', '.join(option.choices)}, not {value!r}", where)
        return value
    if option.kind == Kind.FLAG:
        if not isinstance(value, bool):
            raise UsageError(f"must be true or false, not {value!r}", where)
        return value
    if option.kind == Kind.SECONDS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"must be a number of seconds, not {value!r}", where)
        return float(value)
    if not isinstance(value, str):
        raise UsageError(f"must be text, not {value!r}", where)
    return value


def _max_parameter_bytes(value: Any, path: Path) -> int:
    where = f"{path}: {MAX_PARAMETER_SIZE}"
    try:
        size = parse_memory(value, where)
    except FlowError as exc:
        raise UsageError(f"expected a size such as 1048576 or 4Mi: {exc.message}", where) from None
    if size < 1:
        raise UsageError(f"must be at least one byte, not {value!r}", where)
    return size


def parse_image_map(pairs: list[str]) -> dict[str, str]:
    """`["python:3.11=local/python:3.11"]` -> a mapping; the image names may not contain "="."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"expected FROM=TO, got {pair!r}", "--image-map")
        mapping[source] = target
    return mapping
