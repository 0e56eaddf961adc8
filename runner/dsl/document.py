"""The parts of a PipelineSpec shared by all its DAGs: components, executors and kfp-kubernetes settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Document:
    """Components and executors under unique names; identical definitions are stored once."""

    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    executors: dict[str, dict[str, Any]] = field(default_factory=dict)
    kubernetes: dict[str, dict[str, Any]] = field(default_factory=dict)  # executor label -> settings

    def add_executor(self, base: str, spec: dict[str, Any], kubernetes: dict[str, Any] | None = None) -> str:
        """The label of `spec` in deploymentSpec.executors ("exec-<base>", suffixed when taken)."""
        settings = kubernetes or {}
        label = _unique(
            f"exec-{base}",
            lambda name: (
                name not in self.executors
                or (self.executors[name] == spec and self.kubernetes.get(name, {}) == settings)
            ),
        )
        self.executors[label] = spec
        if settings:
            self.kubernetes[label] = settings
        return label

    def add_component(self, base: str, spec: dict[str, Any]) -> str:
        """The key of `spec` in components ("comp-<base>", suffixed when taken by another definition)."""
        key = _unique(f"comp-{base}", lambda name: self.components.get(name, spec) == spec)
        self.components[key] = spec
        return key

    def platform_spec(self) -> dict[str, Any]:
        """The second YAML document kfp-kubernetes writes, or {} when no task has kubernetes settings."""
        if not self.kubernetes:
            return {}
        executors = {label: self.kubernetes[label] for label in sorted(self.kubernetes)}
        return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def _unique(base: str, free: Any) -> str:
    name, number = base, 1
    while not free(name):
        number += 1
        name = f"{base}-{number}"
    return name
