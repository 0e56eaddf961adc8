"""Kubernetes settings of a task, written as kfp-kubernetes writes them: the platform document's
`platforms.kubernetes.deploymentSpec.executors.<executor label>` (a KubernetesExecutorConfig as JSON).

The functions mirror `kfp.kubernetes` (same names and arguments), so `from runner import kubernetes` replaces
`from kfp import kubernetes` unchanged. Each returns the task. A name (of a Secret, ConfigMap or PVC) may be a
pipeline parameter or a task output; kfp-kubernetes then writes an input parameter spec instead of the name,
which the compiler fills in where the task's DAG is known (`resolve`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.dsl.building import Channel, Collected
from runner.dsl.errors import DefinitionError
from runner.dsl.tasks import PipelineTask

_PULL_POLICIES = ("Always", "Never", "IfNotPresent")
_OPERATORS = ("Equal", "Exists")
_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")


class RuntimeName:
    """A name known only at run time. `legacy`: kfp-kubernetes also writes the binding beside the
    parameter spec (pvcMount's deprecated pvc_reference), as older KFP backends read it."""

    def __init__(self, channel: Channel, legacy: bool) -> None:
        self.channel, self.legacy = channel, legacy


def _settings(task: Any, what: str) -> dict[str, Any]:
    from runner.dsl.components import ContainerBacked

    if not isinstance(task, PipelineTask):
        raise DefinitionError(f"kubernetes.{what} takes a task, got {task!r}", f"kubernetes.{what}")
    if not isinstance(task.component, ContainerBacked):
        raise DefinitionError(
            f"kubernetes.{what} applies to a task that runs a container, not to {task.component!r}",
            task.where,
        )
    return task.kubernetes


def _text(value: Any, what: str, argument: str, task: PipelineTask) -> str:
    if not isinstance(value, str) or not value:
        raise DefinitionError(
            f"kubernetes.{what}: {argument} must be a non-empty str, got {value!r}", task.where
        )
    return value


def _mapping(value: Any, what: str, argument: str, task: PipelineTask) -> dict[str, str]:
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items())
    ):
        raise DefinitionError(
            f"kubernetes.{what}: {argument} must be a non-empty dict of str to str, got {value!r}", task.where
        )
    return dict(value)


def _name(
    value: Any, what: str, argument: str, task: PipelineTask, field: str, parameter: str, legacy: bool = False
) -> dict[str, Any]:
    """The fields naming a Secret, ConfigMap or PVC: the name in `field` (deprecated, written for older KFP
    backends) and its input parameter spec in `parameter`."""
    if isinstance(value, Channel):
        if value.kind != "parameter" or value.type not in (None, "STRING"):
            raise DefinitionError(
                f"kubernetes.{what}: {argument} must be a str or a str-typed pipeline value, got {value!r}",
                task.where,
            )
        return {parameter: RuntimeName(value, legacy)}
    if isinstance(value, Collected):
        raise DefinitionError(f"kubernetes.{what}: {argument} cannot be a Collected list", task.where)
    name = _text(value, what, argument, task)
    return {field: name, parameter: {"runtimeValue": {"constant": name}}}


def use_secret_as_env(
    task: PipelineTask, secret_name: Any, secret_key_to_env: dict[str, str], optional: bool = False
) -> PipelineTask:
    """Set environment variables from a Secret's keys: `secret_key_to_env={"password": "PASSWORD"}`."""
    what = "use_secret_as_env"
    settings = _settings(task, what)
    keys = _mapping(secret_key_to_env, what, "secret_key_to_env", task)
    entry = {
        **_name(secret_name, what, "secret_name", task, "secretName", "secretNameParameter"),
        "keyToEnv": [{"envVar": env, "secretKey": key} for key, env in keys.items()],
        "optional": bool(optional),
    }
    settings.setdefault("secretAsEnv", []).append(entry)
    return task


def use_secret_as_volume(
    task: PipelineTask, secret_name: Any, mount_path: str, optional: bool = False
) -> PipelineTask:
    """Mount a Secret's keys as files under `mount_path`."""
    what = "use_secret_as_volume"
    settings = _settings(task, what)
    entry = {
        **_name(secret_name, what, "secret_name", task, "secretName", "secretNameParameter"),
        "mountPath": _text(mount_path, what, "mount_path", task),
        "optional": bool(optional),
    }
    settings.setdefault("secretAsVolume", []).append(entry)
    return task


def use_config_map_as_env(
    task: PipelineTask, config_map_name: Any, config_map_key_to_env: dict[str, str], optional: bool = False
) -> PipelineTask:
    """Set environment variables from a ConfigMap's keys: `config_map_key_to_env={"mode": "MODE"}`."""
    what = "use_config_map_as_env"
    settings = _settings(task, what)
    keys = _mapping(config_map_key_to_env, what, "config_map_key_to_env", task)
    entry = {
        **_name(config_map_name, what, "config_map_name", task, "configMapName", "configMapNameParameter"),
        "keyToEnv": [{"configMapKey": key, "envVar": env} for key, env in keys.items()],
        "optional": bool(optional),
    }
    settings.setdefault("configMapAsEnv", []).append(entry)
    return task


def use_config_map_as_volume(
    task: PipelineTask, config_map_name: Any, mount_path: str, optional: bool = False
) -> PipelineTask:
    """Mount a ConfigMap's keys as files under `mount_path`."""
    what = "use_config_map_as_volume"
    settings = _settings(task, what)
    entry = {
        **_name(config_map_name, what, "config_map_name", task, "configMapName", "configMapNameParameter"),
        "mountPath": _text(mount_path, what, "mount_path", task),
        "optional": bool(optional),
    }
    settings.setdefault("configMapAsVolume", []).append(entry)
    return task


def mount_pvc(task: PipelineTask, pvc_name: Any, mount_path: str, sub_path: str = "") -> PipelineTask:
    """Mount an existing PersistentVolumeClaim (a name, a pipeline parameter or a task output)."""
    what = "mount_pvc"
    settings = _settings(task, what)
    entry = {
        **_name(pvc_name, what, "pvc_name", task, "constant", "pvcNameParameter", legacy=True),
        "mountPath": _text(mount_path, what, "mount_path", task),
    }
    if sub_path:
        entry["subPath"] = _text(sub_path, what, "sub_path", task)
    settings.setdefault("pvcMount", []).append(entry)
    return task


def add_node_selector(task: PipelineTask, label_key: str, label_value: str) -> PipelineTask:
    """Run the task's pod only on nodes with this label."""
    what = "add_node_selector"
    settings = _settings(task, what)
    labels = settings.setdefault("nodeSelector", {}).setdefault("labels", {})
    labels[_text(label_key, what, "label_key", task)] = _text(label_value, what, "label_value", task)
    return task


def add_toleration(
    task: PipelineTask,
    key: str | None = None,
    operator: str | None = None,
    value: str | None = None,
    effect: str | None = None,
    toleration_seconds: int | None = None,
) -> PipelineTask:
    """Let the task's pod run on nodes with a matching taint."""
    what = "add_toleration"
    settings = _settings(task, what)
    for argument, given, allowed in (("operator", operator, _OPERATORS), ("effect", effect, _EFFECTS)):
        if given is not None and given not in allowed:
            raise DefinitionError(
                f"kubernetes.{what}: {argument} must be one of {', '.join(allowed)}, got {given!r}",
                task.where,
            )
    if toleration_seconds is not None and (
        not isinstance(toleration_seconds, int) or isinstance(toleration_seconds, bool)
    ):
        raise DefinitionError(
            f"kubernetes.{what}: toleration_seconds must be an int, got {toleration_seconds!r}", task.where
        )
    entry = {
        k: v for k, v in (("key", key), ("operator", operator), ("value", value), ("effect", effect)) if v
    }
    if toleration_seconds is not None:
        entry["tolerationSeconds"] = str(toleration_seconds)  # an int64, which protobuf's JSON writes as text
    settings.setdefault("tolerations", []).append(entry)
    return task


def set_image_pull_secrets(task: PipelineTask, secret_names: list[Any]) -> PipelineTask:
    """Pull the task's image with these registry credentials (Secrets of type dockerconfigjson)."""
    what = "set_image_pull_secrets"
    settings = _settings(task, what)
    if not isinstance(secret_names, list | tuple) or not secret_names:
        raise DefinitionError(f"kubernetes.{what}: secret_names must be a non-empty list", task.where)
    entries = [
        _name(n, what, "secret_names", task, "secretName", "secretNameParameter") for n in secret_names
    ]
    settings.setdefault("imagePullSecret", []).extend(entries)
    return task


def set_image_pull_policy(task: PipelineTask, policy: str) -> PipelineTask:
    """When the node pulls the image: Always, Never or IfNotPresent."""
    what = "set_image_pull_policy"
    settings = _settings(task, what)
    if policy not in _PULL_POLICIES:
        raise DefinitionError(
            f"kubernetes.{what}: policy must be one of {', '.join(_PULL_POLICIES)}, got {policy!r}",
            task.where,
        )
    settings["imagePullPolicy"] = policy
    return task


def add_pod_label(task: PipelineTask, label_key: str, label_value: str) -> PipelineTask:
    return _pod_metadata(task, "add_pod_label", "labels", label_key, label_value)


def add_pod_annotation(task: PipelineTask, annotation_key: str, annotation_value: str) -> PipelineTask:
    return _pod_metadata(task, "add_pod_annotation", "annotations", annotation_key, annotation_value)


def _pod_metadata(task: PipelineTask, what: str, field: str, key: str, value: str) -> PipelineTask:
    settings = _settings(task, what)
    if not isinstance(value, str):
        raise DefinitionError(f"kubernetes.{what}: the value must be a str, got {value!r}", task.where)
    settings.setdefault("podMetadata", {}).setdefault(field, {})[_text(key, what, "the key", task)] = value
    return task


def set_timeout(task: PipelineTask, seconds: int) -> PipelineTask:
    """Fail the task after `seconds` (the pod's activeDeadlineSeconds); the same as `task.set_timeout`."""
    _settings(task, "set_timeout")
    return task.set_timeout(seconds)


def resolve(settings: Any, bind: Callable[[Channel], dict[str, Any]]) -> Any:
    """`settings` with each RuntimeName replaced by `bind(channel)` (an input parameter spec)."""
    if isinstance(settings, list):
        return [resolve(item, bind) for item in settings]
    if not isinstance(settings, dict):
        return settings
    resolved: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, RuntimeName):
            binding = bind(value.channel)
            resolved[key] = binding
            if value.legacy:
                resolved.update(binding)
        else:
            resolved[key] = resolve(value, bind)
    return resolved
