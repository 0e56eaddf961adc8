"""The part of the Kubeflow Pipelines v2 IR (PipelineSpec) that flow executes, as typed, frozen objects."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

from backends.base import Resources

PARAMETER_TYPES = (
    "STRING",
    "NUMBER_INTEGER",
    "NUMBER_DOUBLE",
    "BOOLEAN",
    "LIST",
    "STRUCT",
    "TASK_FINAL_STATUS",
)

# Sentinel for "no default": None is a legal default in the IR (`defaultValue: null`).
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()


@dataclass(frozen=True)
class ParameterDef:
    name: str
    type: str
    default: Any = NO_DEFAULT
    optional: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True)
class ArtifactDef:
    name: str
    schema_title: str
    schema_version: str = "0.0.1"
    is_list: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Interface:
    parameters: dict[str, ParameterDef] = field(default_factory=dict)
    artifacts: dict[str, ArtifactDef] = field(default_factory=dict)


@dataclass(frozen=True)
class ParameterBinding:
    """Where a task input parameter's value comes from."""

    kind: Literal["constant", "component_input", "task_output", "task_final_status"]
    constant: Any = None
    key: str = ""  # component input name or producer output key
    producer: str | None = None
    selector: str | None = None  # parameterExpressionSelector (CEL over the value)


@dataclass(frozen=True)
class ArtifactBinding:
    """Where a task input artifact comes from."""

    kind: Literal["task_output", "component_input"]
    key: str
    producer: str | None = None


@dataclass(frozen=True)
class Iterator:
    """A ParallelFor: `items` is either raw JSON text or a component input parameter / artifact name."""

    kind: Literal["parameter", "artifact"]
    item_input: str
    raw: str | None = None
    input_name: str | None = None
    parallelism: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 0
    backoff_seconds: float = 0.0
    backoff_factor: float = 2.0
    backoff_max_seconds: float = 3600.0


@dataclass(frozen=True)
class Task:
    name: str
    component: str
    where: str  # YAML path, for error messages
    display_name: str = ""
    dependent_tasks: tuple[str, ...] = ()
    parameters: dict[str, ParameterBinding] = field(default_factory=dict)
    artifacts: dict[str, ArtifactBinding] = field(default_factory=dict)
    condition: str | None = None
    trigger_strategy: str | None = None
    iterator: Iterator | None = None
    retry: RetryPolicy | None = None
    enable_cache: bool = True
    cache_key: str | None = None

    @functools.cached_property
    def upstream(self) -> frozenset[str]:
        """Every sibling task this one waits for: declared dependencies and data producers."""
        deps = set(self.dependent_tasks)
        deps.update(b.producer for b in self.parameters.values() if b.producer)
        deps.update(b.producer for b in self.artifacts.values() if b.producer)
        return frozenset(deps)


@dataclass(frozen=True)
class OutputSelector:
    producer: str
    key: str


@dataclass(frozen=True)
class Dag:
    tasks: dict[str, Task]
    # Each output has one selector, or several for dsl.OneOf (the first producer that ran wins).
    parameter_outputs: dict[str, tuple[OutputSelector, ...]] = field(default_factory=dict)
    artifact_outputs: dict[str, tuple[OutputSelector, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Container:
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    # Resource fields given as an input parameter's placeholder (`set_cpu_limit(param)`), resolved when the
    # task starts: the Resources field's name -> (the IR field, the input parameter's name).
    resource_inputs: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Importer:
    """dsl.importer: the URI is a constant or the value of one of the importer task's input parameters."""

    schema_title: str
    uri: str | None = None
    uri_input: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reimport: bool = False
    download_to_workspace: bool = False  # kfp 2.17: the consumers read it from the run's workspace


@dataclass(frozen=True)
class Component:
    name: str
    where: str
    inputs: Interface = field(default_factory=Interface)
    outputs: Interface = field(default_factory=Interface)
    dag: Dag | None = None
    executor: Container | Importer | None = None
    executor_label: str = ""


@dataclass(frozen=True)
class WorkspaceConfig:
    """KFP's pipeline workspace: its size (a Kubernetes quantity) and the claim spec fields it sets."""

    size: str
    pvc_patch: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    source: str  # file name or "<string>", for error messages
    root: Component
    components: dict[str, Component]
    platform: dict[str, Any] = field(default_factory=dict)  # kfp-kubernetes platform spec, kept raw
    text: str = ""  # the YAML as loaded, stored with each run
    # Content digests of the components by name (runner.spec.digests), recorded with every task of a run.
    digests: dict[str, str] = field(default_factory=dict)
    workspace: WorkspaceConfig | None = None  # platforms.kubernetes.pipelineConfig.workspace

    def component(self, name: str) -> Component:
        return self.components[name]

    def kubernetes_executor(self, label: str) -> dict[str, Any]:
        """The kfp-kubernetes settings of one executor (secrets, volumes, timeout...), or {}."""
        platform = self.platform.get("platforms", {}).get("kubernetes", {})
        executors = platform.get("deploymentSpec", {}).get("executors", {})
        settings = executors.get(label) or {}
        return settings if isinstance(settings, dict) else {}
