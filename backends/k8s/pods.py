"""The pod that runs one attempt of a task: TaskSpec and kfp-kubernetes executor config in, manifest out.

The manifest is a plain dict, as `kubectl apply` would take it, so it can be read and tested without a
cluster. Label values are restricted (63 characters, no `/`), so the exact task path goes in an annotation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.base import PermanentBackendError, Resources, TaskSpec

LABEL_MANAGED = "flow.managed"
LABEL_RUN = "flow.run"
LABEL_TASK = "flow.task"
LABEL_ATTEMPT = "flow.attempt"
ANNOTATION_TASK_PATH = "flow.task-path"
ROOT_VOLUME = "flow-root"
MAIN_CONTAINER = "main"

# Kubernetes's words for the pull policies of backends.settings.PULL_POLICIES.
IMAGE_PULL_POLICY = {"never": "Never", "missing": "IfNotPresent", "always": "Always"}
NON_ROOT_ID = 65534  # "nobody", the user and group of tasks run with run_as_non_root
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class PodSettings:
    """What the backend adds to every pod, from its options."""

    namespace: str
    claim: str
    pull_policy: str = "IfNotPresent"
    service_account: str | None = None
    grace_seconds: int = 5
    run_as_non_root: bool = False  # tasks run as NON_ROOT_ID, and the kubelet refuses to start them as root


def label_value(text: str) -> str:
    """`text` as a valid label value: allowed characters only, at most 63, alphanumeric at both ends."""
    value = _NOT_LABEL.sub("-", text)[:63]
    return value.strip("-_.")


def pod_manifest(task: TaskSpec, image: str, settings: PodSettings) -> dict[str, Any]:
    """The pod for `task`, running `image`; the run's root is added by its view (TaskView.add_to_pod)."""
    config = task.kubernetes
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": image,
        "imagePullPolicy": config.get("imagePullPolicy") or settings.pull_policy,
        "env": [{"name": k, "value": v} for k, v in task.env.items()] + _env_from_config(config),
        "volumeMounts": [],
    }
    if task.command:
        container["command"] = list(task.command)
    if task.args:
        container["args"] = list(task.args)
    resources = _resources(task.resources)
    if resources:
        container["resources"] = resources
    volumes: list[dict[str, Any]] = []
    _add_config_volumes(config, container, volumes)

    metadata = config.get("podMetadata") or {}
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    labels.update(
        {
            LABEL_MANAGED: "1",
            LABEL_RUN: task.run_id,
            LABEL_TASK: label_value(task.task_path),
            LABEL_ATTEMPT: str(task.attempt),
        }
    )
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    annotations[ANNOTATION_TASK_PATH] = task.task_path

    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
        # Components never get credentials for the cluster (no service account token) nor service env vars.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.grace_seconds,
    }
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if settings.run_as_non_root:
        spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": NON_ROOT_ID, "runAsGroup": NON_ROOT_ID}
    if task.timeout:
        spec["activeDeadlineSeconds"] = max(1, int(task.timeout + 0.999))
    node_selector = (config.get("nodeSelector") or {}).get("labels") or {}
    if node_selector:
        spec["nodeSelector"] = {str(k): str(v) for k, v in node_selector.items()}
    tolerations = [_toleration(t) for t in config.get("tolerations") or []]
    if tolerations:
        spec["tolerations"] = tolerations
    pull_secrets = [
        {"name": s["secretName"]} for s in config.get("imagePullSecret") or [] if s.get("secretName")
    ]
    if pull_secrets:
        spec["imagePullSecrets"] = pull_secrets

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": task.name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }


def _resources(res: Resources) -> dict[str, dict[str, str]]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if res.cpu_limit:
        limits["cpu"] = _cpu(res.cpu_limit)
    if res.memory_limit:
        limits["memory"] = str(res.memory_limit)
    if res.cpu_request:
        requests["cpu"] = _cpu(res.cpu_request)
    if res.memory_request:
        requests["memory"] = str(res.memory_request)
    if res.accelerator_count:
        # KFP's accelerator types name NVIDIA GPUs; the device plugin's resource name is the same for all.
        limits["nvidia.com/gpu"] = str(res.accelerator_count)
    return {key: value for key, value in (("limits", limits), ("requests", requests)) if value}


def _cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _env_from_config(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for secret in config.get("secretAsEnv") or []:
        for pair in secret.get("keyToEnv") or []:
            ref = {"name": _required(secret, "secretName", "secretAsEnv"), "key": pair["secretKey"]}
            if secret.get("optional"):
                ref["optional"] = True
            env.append({"name": pair["envVar"], "valueFrom": {"secretKeyRef": ref}})
    for config_map in config.get("configMapAsEnv") or []:
        for pair in config_map.get("keyToEnv") or []:
            ref = {
                "name": _required(config_map, "configMapName", "configMapAsEnv"),
                "key": pair["configMapKey"],
            }
            if config_map.get("optional"):
                ref["optional"] = True
            env.append({"name": pair["envVar"], "valueFrom": {"configMapKeyRef": ref}})
    for field_env in config.get("fieldPathAsEnv") or []:
        env.append(
            {"name": field_env["name"], "valueFrom": {"fieldRef": {"fieldPath": field_env["fieldPath"]}}}
        )
    return env


def _add_config_volumes(
    config: Mapping[str, Any], container: dict[str, Any], volumes: list[dict[str, Any]]
) -> None:
    mounts: list[dict[str, Any]] = container["volumeMounts"]

    def add(source: dict[str, Any], mount_path: str) -> None:
        name = f"vol-{len(volumes)}"
        volumes.append({"name": name, **source})
        mounts.append({"name": name, "mountPath": mount_path})

    for secret in config.get("secretAsVolume") or []:
        source = {"secretName": _required(secret, "secretName", "secretAsVolume")}
        if secret.get("optional"):
            source["optional"] = True
        add({"secret": source}, _required(secret, "mountPath", "secretAsVolume"))
    for config_map in config.get("configMapAsVolume") or []:
        source = {"name": _required(config_map, "configMapName", "configMapAsVolume")}
        if config_map.get("optional"):
            source["optional"] = True
        add({"configMap": source}, _required(config_map, "mountPath", "configMapAsVolume"))
    for pvc in config.get("pvcMount") or []:
        add(
            {"persistentVolumeClaim": {"claimName": _claim_name(pvc)}},
            _required(pvc, "mountPath", "pvcMount"),
        )
    for empty_dir in config.get("emptyDirMounts") or []:
        source = {key: empty_dir[key] for key in ("medium", "sizeLimit") if empty_dir.get(key)}
        add({"emptyDir": source}, _required(empty_dir, "mountPath", "emptyDirMounts"))


def _claim_name(pvc: Mapping[str, Any]) -> str:
    """The claim a pvcMount names: `constant`, or a `pvcNameParameter` given as a constant.

    A claim named by a pipeline parameter or an upstream task's output is not supported yet: the engine
    would have to resolve it before the pod is made.
    """
    if isinstance(pvc.get("constant"), str):
        return str(pvc["constant"])
    parameter = pvc.get("pvcNameParameter") or {}
    constant = (parameter.get("runtimeValue") or {}).get("constant")
    if isinstance(constant, str) and constant:
        return constant
    raise PermanentBackendError(
        f"pvcMount at {pvc.get('mountPath')!r}: only a claim named by a constant is supported: {dict(pvc)}"
    )


def _toleration(toleration: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("key", "operator", "value", "effect", "tolerationSeconds")
    return {key: toleration[key] for key in keys if toleration.get(key) not in (None, "")}


def _required(entry: Mapping[str, Any], key: str, where: str) -> Any:
    value = entry.get(key)
    if not value:
        raise PermanentBackendError(f"kubernetes platform spec: {where} entry without {key}: {dict(entry)}")
    return value
