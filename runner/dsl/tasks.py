"""A task of a pipeline: a component called with arguments, and its settings (caching, retries, resources)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runner.dsl.errors import DefinitionError
from runner.spec.quantities import MEMORY_UNITS, parse_cpu

if TYPE_CHECKING:
    from runner.dsl.building import Graph, Group, Outputs, TaskOutput
    from runner.dsl.components import BaseComponent

_CPU = re.compile(r"^(?:[0-9]+m|[0-9]+(?:\.[0-9]+)?)$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki|k)?$")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)s?$")


class PipelineTask:
    """One call of a component inside a pipeline. Settings return the task, so they chain."""

    def __init__(self, component: BaseComponent, arguments: dict[str, Any], graph: Graph) -> None:
        self.component = component
        self.arguments = arguments
        self.graph = graph
        self.name = graph.task_name(component.name)
        self.group: Group = graph.current
        self.display_name = ""
        self.enable_caching = True
        self.retry: dict[str, Any] | None = None
        self.resources: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        self.kubernetes: dict[str, Any] = {}
        self.upstream: list[PipelineTask] = []
        self.trigger_strategy = ""
        graph.add(self)

    def __repr__(self) -> str:
        return f"PipelineTask({self.name!r})"

    @property
    def where(self) -> str:
        return f"{self.graph.name}: task {self.name!r}"

    # -- outputs ---------------------------------------------------------------------------------------

    @property
    def outputs(self) -> Outputs:
        from runner.dsl.building import Outputs

        return Outputs(self)

    @property
    def output(self) -> TaskOutput:
        """The one output of the task (a return value or the only output artifact)."""
        names = list(self.component.outputs)
        if len(names) != 1:
            detail = f"outputs {', '.join(names)}: use .outputs['NAME']" if names else "no outputs"
            raise DefinitionError(
                f"task {self.name!r} (component {self.component.name!r}) has {detail}", self.graph.name
            )
        return self.outputs[names[0]]

    # -- settings --------------------------------------------------------------------------------------

    def after(self, *tasks: PipelineTask) -> PipelineTask:
        """Run only after `tasks` finished (with no data passed)."""
        for task in tasks:
            if not isinstance(task, PipelineTask):
                raise DefinitionError(f"after() takes tasks, got {task!r}", self.where)
            if task is self:
                raise DefinitionError("a task cannot run after itself", self.where)
            self.upstream.append(task)
        return self

    def set_display_name(self, name: str) -> PipelineTask:
        self.display_name = name
        return self

    def set_caching_options(self, enable_caching: bool) -> PipelineTask:
        self.enable_caching = bool(enable_caching)
        return self

    def set_retry(
        self,
        num_retries: int,
        backoff_duration: str | float | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | float | None = None,
    ) -> PipelineTask:
        """Retry a failed task up to `num_retries` times, waiting backoff_duration * factor**n (capped)."""
        if not isinstance(num_retries, int) or num_retries < 0:
            raise DefinitionError(f"num_retries must be a non-negative int, got {num_retries!r}", self.where)
        self.retry = {
            "backoffDuration": self._duration(backoff_duration, "0s"),
            "backoffFactor": float(2.0 if backoff_factor is None else backoff_factor),
            "backoffMaxDuration": self._duration(backoff_max_duration, "3600s"),
            "maxRetryCount": num_retries,
        }
        return self

    def _duration(self, value: str | float | None, default: str) -> str:
        if value is None:
            return default
        match = _DURATION.match(str(value).strip())
        if not match:
            raise DefinitionError(f"a duration is seconds like '30s' or 30, got {value!r}", self.where)
        seconds = float(match.group(1))
        return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds}s"

    def set_cpu_limit(self, cpu: str) -> PipelineTask:
        return self._cpu("resourceCpuLimit", "cpuLimit", cpu)

    def set_cpu_request(self, cpu: str) -> PipelineTask:
        return self._cpu("resourceCpuRequest", "cpuRequest", cpu)

    def _cpu(self, field: str, legacy: str, cpu: str) -> PipelineTask:
        text = str(cpu)
        if not _CPU.match(text):
            raise DefinitionError(f"CPU must be like '2', '0.5' or '500m', got {cpu!r}", self.where)
        self.resources[field] = text
        self.resources[legacy] = parse_cpu(text, self.where)
        return self

    def set_memory_limit(self, memory: str) -> PipelineTask:
        return self._memory("resourceMemoryLimit", "memoryLimit", memory)

    def set_memory_request(self, memory: str) -> PipelineTask:
        return self._memory("resourceMemoryRequest", "memoryRequest", memory)

    def _memory(self, field: str, legacy: str, memory: str) -> PipelineTask:
        text = str(memory)
        match = _MEMORY.match(text)
        if not match:
            raise DefinitionError(f"memory must be like '512Mi' or '2G', got {memory!r}", self.where)
        self.resources[field] = text
        self.resources[legacy] = float(match.group(1)) * MEMORY_UNITS[match.group(2) or ""] / 10**9
        return self

    def set_accelerator_type(self, accelerator: str) -> PipelineTask:
        accel = self.resources.setdefault("accelerator", {})
        accel["resourceType"] = accel["type"] = str(accelerator)
        accel.setdefault("resourceCount", "1")
        accel.setdefault("count", "1")
        return self

    def set_accelerator_limit(self, limit: int | str) -> PipelineTask:
        if not str(limit).isdigit():
            raise DefinitionError(f"the accelerator limit must be a whole number, got {limit!r}", self.where)
        accel = self.resources.setdefault("accelerator", {})
        accel["resourceCount"] = accel["count"] = str(int(limit))
        return self

    def set_gpu_limit(self, limit: int | str) -> PipelineTask:
        return self.set_accelerator_limit(limit)

    def set_env_variable(self, name: str, value: str) -> PipelineTask:
        self.env[str(name)] = str(value)
        return self

    def set_timeout(self, seconds: int) -> PipelineTask:
        """Fail the task after `seconds` (kfp-kubernetes' activeDeadlineSeconds)."""
        if not isinstance(seconds, int) or seconds <= 0:
            raise DefinitionError(f"timeout must be a positive int of seconds, got {seconds!r}", self.where)
        self.kubernetes["activeDeadlineSeconds"] = str(seconds)  # an int64: protobuf JSON writes text
        return self

    def ignore_upstream_failure(self) -> PipelineTask:
        """Run even when a task it depends on failed (its inputs from that task are then missing)."""
        self.trigger_strategy = "ALL_UPSTREAM_TASKS_COMPLETED"
        return self
