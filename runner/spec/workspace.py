"""KFP's pipeline workspace as the platform spec declares it (`dsl.PipelineConfig(workspace=
dsl.WorkspaceConfig(size=..., kubernetes=dsl.KubernetesWorkspaceConfig(pvcSpecPatch=...)))`), checked at load.

The claim spec patch comes from an untrusted file. Kubeflow's backend patches a handful of fields onto the
workspace claim (backend/src/common/util/k8s_patches.go PatchPVCSpec); flow takes those that keep the claim
a new, empty volume of the run, and refuses those that would bind or copy another volume of the cluster
(volumeName, dataSource, dataSourceRef) and any field it does not know. As in Kubeflow, the declared size
is the claim's storage request whatever the patch says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runner.errors import SpecError
from runner.spec.model import Importer, PipelineSpec, WorkspaceConfig

PLACEHOLDER = "{{$.workspace_path}}"
WHERE = "platforms.kubernetes.pipelineConfig.workspace"
ACCESS_MODES = frozenset(("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"))
_SELECTOR_OPERATORS = frozenset(("In", "NotIn", "Exists", "DoesNotExist"))
_REFUSED = {
    "volumeName": "would bind the workspace to an existing volume",
    "dataSource": "would fill the workspace from another claim or snapshot",
    "dataSourceRef": "would fill the workspace from another object",
}
# A Kubernetes quantity (apimachinery's resource.Quantity grammar), never negative.
_QUANTITY = re.compile(r"^\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def workspace_config(platform: Mapping[str, Any], source: str) -> WorkspaceConfig | None:
    """The pipeline's workspace, or None when it declares none. Raises SpecError naming the bad field."""
    kubernetes = _mapping((platform.get("platforms") or {}), "platforms", source).get("kubernetes") or {}
    config = _mapping(kubernetes, "platforms.kubernetes", source).get("pipelineConfig") or {}
    node = _mapping(config, "platforms.kubernetes.pipelineConfig", source).get("workspace")
    if node is None:
        return None
    node = _mapping(node, WHERE, source)
    size = node.get("size")
    if not isinstance(size, str) or not _QUANTITY.match(size.strip()) or len(size) > 40:
        raise _error(f"size {size!r} is not a Kubernetes quantity such as '10Gi'", "size", source)
    patch_node = _mapping(node.get("kubernetes") or {}, f"{WHERE}.kubernetes", source).get("pvcSpecPatch")
    patch = _pvc_patch(_mapping(patch_node or {}, f"{WHERE}.kubernetes.pvcSpecPatch", source), source)
    return WorkspaceConfig(size=size.strip(), pvc_patch=patch)


def check_placeholder_use(spec: PipelineSpec, config: WorkspaceConfig | None) -> None:
    """A pipeline that passes `{{$.workspace_path}}` to a task, or imports into the workspace, must declare
    one (kfp refuses to compile one that does not; a hand-written file is refused here rather than run)."""
    if config is not None:
        return
    for component in spec.components.values():
        if isinstance(component.executor, Importer) and component.executor.download_to_workspace:
            raise SpecError(
                "dsl.importer(download_to_workspace=True) needs a workspace, and the pipeline declares none "
                "(dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size=...)))",
                f"{spec.source}: deploymentSpec.executors.{component.executor_label}.importer."
                "downloadToWorkspace",
            )
    for component in [spec.root, *spec.components.values()]:
        dag_path = "root.dag" if component is spec.root else f"components.{component.name}.dag"
        for task in component.dag.tasks.values() if component.dag else ():
            for name, binding in task.parameters.items():
                if isinstance(binding.constant, str) and PLACEHOLDER in binding.constant:
                    raise SpecError(
                        f"{PLACEHOLDER} is used but the pipeline declares no workspace "
                        "(dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size=...)))",
                        f"{spec.source}: {dag_path}.tasks.{task.name}.inputs.parameters.{name}",
                    )


def _pvc_patch(patch: Mapping[str, Any], source: str) -> dict[str, Any]:
    where = "kubernetes.pvcSpecPatch"
    checked: dict[str, Any] = {}
    for key, value in patch.items():
        path = f"{where}.{key}"
        if key in _REFUSED:
            raise _error(f"{_REFUSED[key]}; a workspace is a new, empty claim of the run", path, source)
        if key == "accessModes":
            if not isinstance(value, list) or not value or not all(v in ACCESS_MODES for v in value):
                raise _error(f"must be a list of {', '.join(sorted(ACCESS_MODES))}", path, source)
            checked[key] = list(value)
        elif key == "storageClassName":
            # As Kubeflow: an empty class would ask for no class at all, not the cluster's default.
            if not isinstance(value, str) or not _DNS_SUBDOMAIN.match(value):
                raise _error(f"{value!r} is not a storage class name", path, source)
            checked[key] = value
        elif key == "volumeMode":
            if value != "Filesystem":  # a Block volume cannot be mounted as the workspace folder
                raise _error(f"{value!r}: a workspace is a Filesystem volume", path, source)
            checked[key] = value
        elif key == "selector":
            checked[key] = _selector(value, path, source)
        elif key == "resources":
            _storage_request(value, path, source)  # the size wins, as in Kubeflow
        else:
            raise _error(f"unknown field {key!r}", where, source)
    return checked


def _selector(value: Any, path: str, source: str) -> dict[str, Any]:
    selector = _mapping(value, f"{WHERE}.{path}", source)
    checked: dict[str, Any] = {}
    for key, item in selector.items():
        if key == "matchLabels":
            labels = _mapping(item, f"{WHERE}.{path}.{key}", source)
            for label, text in labels.items():
                if (
                    not _LABEL_KEY.match(str(label))
                    or not isinstance(text, str)
                    or not _LABEL_VALUE.match(text)
                ):
                    raise _error(f"{label!r}: {text!r} is not a label and value", f"{path}.{key}", source)
            checked[key] = dict(labels)
        elif key == "matchExpressions":
            checked[key] = [_expression(e, f"{path}.{key}", source) for e in _list(item, path, source)]
        else:
            raise _error(f"unknown field {key!r}", path, source)
    return checked


def _expression(value: Any, path: str, source: str) -> dict[str, Any]:
    expression = _mapping(value, f"{WHERE}.{path}", source)
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values", [])
    if (
        set(expression) - {"key", "operator", "values"}
        or not isinstance(key, str)
        or not _LABEL_KEY.match(key)
        or operator not in _SELECTOR_OPERATORS
        or not isinstance(values, list)
        or not all(isinstance(v, str) and _LABEL_VALUE.match(v) for v in values)
    ):
        raise _error(f"{dict(expression)!r} is not a label selector expression", path, source)
    return {"key": key, "operator": operator, "values": list(values)}


def _storage_request(value: Any, path: str, source: str) -> None:
    resources = _mapping(value, f"{WHERE}.{path}", source)
    requests = _mapping(resources.get("requests") or {}, f"{WHERE}.{path}.requests", source)
    if set(resources) - {"requests"} or set(requests) - {"storage"}:
        raise _error("only requests.storage is a claim's resource", path, source)
    storage = requests.get("storage")
    if storage is not None and not (isinstance(storage, str) and _QUANTITY.match(storage)):
        raise _error(f"{storage!r} is not a Kubernetes quantity", f"{path}.requests.storage", source)


def _list(value: Any, path: str, source: str) -> list[Any]:
    if not isinstance(value, list):
        raise _error("expected a list", path, source)
    return value


def _mapping(value: Any, path: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"expected a mapping, got {type(value).__name__}", f"{source}: {path}")
    return value


def _error(message: str, path: str, source: str) -> SpecError:
    return SpecError(f"workspace: {message}", f"{source}: {WHERE}.{path}")
