"""User settings from a config file: `flow.yaml` in the working folder, else `$FLOW_HOME/config.yaml`.

image_map:            # replace images, for air-gapped machines and mirrors
  python:3.11: mirror.example/python:3.11
pull: missing         # never | missing | always
max_parameter_size: 1Mi  # the largest output parameter a task may hand back (bytes, or 4Mi, 10M...)

Besides the engine's own key (max_parameter_size), the keys are the backend settings declared with
`config=True` (backends/settings.py): image_map and pull.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backends.settings import Kind
from runner.errors import FlowError, UsageError
from runner.layout import flow_home
from runner.plugins import Declared, declared_settings
from runner.spec.quantities import parse_memory

DEFAULT_MAX_PARAMETER_BYTES = 1 << 20


@dataclass
class Config:
    # The backend settings the file sets, as backend options (for backends.settings' declarations).
    backend: dict[str, Any] = field(default_factory=dict)
    max_parameter_bytes: int = DEFAULT_MAX_PARAMETER_BYTES
    source: str = ""


def config_path() -> Path | None:
    for candidate in (Path("flow.yaml"), flow_home() / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    if path is None:
        return Config()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the config file: {exc}", str(path)) from None
    if not isinstance(data, dict):
        raise UsageError("the config file must be a mapping", str(path))
    backend = {
        item.name: _setting(item, data[item.name], f"{path}: {item.name}")
        for item in declared_settings()
        if item.option.config and data.get(item.name) is not None
    }
    return Config(
        backend=backend,
        max_parameter_bytes=_max_parameter_bytes(
            data.get("max_parameter_size"), f"{path}: max_parameter_size"
        ),
        source=str(path),
    )


def _setting(item: Declared, value: Any, where: str) -> Any:
    """A backend setting's value in the file, checked as its declaration says."""
    option = item.option
    if option.kind == Kind.IMAGE_MAP:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise UsageError(f"{item.name} must map image names to image names", where)
        return {str(k): v for k, v in value.items()}
    if option.kind == Kind.CHOICE:
        if value not in option.choices:
            raise UsageError(f"{item.name} must be one of {', '.join(option.choices)}, not {value!r}", where)
        return value
    if option.kind == Kind.FLAG:
        if not isinstance(value, bool):
            raise UsageError(f"{item.name} must be true or false, not {value!r}", where)
        return value
    if option.kind == Kind.SECONDS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(f"{item.name} must be a number of seconds, not {value!r}", where)
        return float(value)
    if not isinstance(value, str):
        raise UsageError(f"{item.name} must be text, not {value!r}", where)
    return value


def _max_parameter_bytes(value: Any, path: str) -> int:
    where = f"{path}: max_parameter_size"
    if value is None:
        return DEFAULT_MAX_PARAMETER_BYTES
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
