"""A run's workspace on a cluster: a PersistentVolumeClaim of its own, mounted at /kfp-workspace.

As in Kubeflow (backend/src/v2/compiler/argocompiler GetWorkspacePVC, driver getWorkspaceMount): the
claim requests the declared size, with the fields of the pipeline's pvcSpecPatch (checked at load), and
the volume is named `kfp-workspace`; a task whose own volumes use that name or a path under the mount
cannot start. Without accessModes in the patch, the claim is ReadWriteOnce, like the root's; without a
storage class, the backend's `--storage-class`, else the cluster's default.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from backends.base import PermanentBackendError
from backends.k8s.errors import Conflict, NotFound, translated
from backends.k8s.pods import LABEL_MANAGED, LABEL_RUN
from backends.k8s.volume import HelperPod, helper_name
from backends.workspaces import WORKSPACE_PATH, Workspace, WorkspaceView
from roots.files import RootFiles

if TYPE_CHECKING:
    from kubernetes import client

    from backends.k8s import KubernetesBackend

VOLUME = "kfp-workspace"
LABEL_WORKSPACE = "flow.workspace"


def claim_name(workspace: Workspace) -> str:
    return f"flow-{workspace.owner}-workspace"


def claim_manifest(workspace: Workspace, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"]}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    spec.update(workspace.pvc_patch)
    spec["resources"] = {"requests": {"storage": workspace.size}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim_name(workspace),
            "labels": {LABEL_MANAGED: "1", LABEL_RUN: workspace.owner, LABEL_WORKSPACE: "1"},
        },
        "spec": spec,
    }


def ensure_claim(
    core: client.CoreV1Api, namespace: str, workspace: Workspace, storage_class: str | None
) -> None:
    """Create the workspace's claim, or find it again (a resumed run's); one of that name that flow did
    not make for this run is refused rather than given to the run's tasks."""
    name = claim_name(workspace)
    try:
        with translated(f"creating the workspace claim {name!r}"):
            core.create_namespaced_persistent_volume_claim(
                namespace, claim_manifest(workspace, storage_class)
            )
    except Conflict:
        with translated(f"looking up the workspace claim {name!r}"):
            found = core.read_namespaced_persistent_volume_claim(name, namespace)
        labels = found.metadata.labels or {}
        if labels.get(LABEL_RUN) != workspace.owner or labels.get(LABEL_WORKSPACE) != "1":
            raise PermanentBackendError(
                f"the claim {name!r} in {namespace} is not the workspace flow made for run {workspace.owner}"
            ) from None


def delete_claim(core: client.CoreV1Api, namespace: str, workspace: Workspace) -> None:
    name = claim_name(workspace)
    with contextlib.suppress(NotFound), translated(f"deleting the workspace claim {name!r}"):
        core.delete_namespaced_persistent_volume_claim(name, namespace)


def mount(manifest: dict[str, Any], workspace: Workspace) -> None:
    """Add the workspace to a task's pod, refusing a task whose own volumes would shadow or replace it."""
    spec = manifest["spec"]
    container = spec["containers"][0]
    for existing in container.get("volumeMounts") or []:
        path = str(existing.get("mountPath", ""))
        if (
            existing.get("name") == VOLUME
            or path.rstrip("/") == WORKSPACE_PATH
            or path.startswith(f"{WORKSPACE_PATH}/")
        ):
            raise PermanentBackendError(
                f"the task's volume at {path} conflicts with the workspace at {WORKSPACE_PATH}"
            )
    spec["volumes"].append({"name": VOLUME, "persistentVolumeClaim": {"claimName": claim_name(workspace)}})
    container["volumeMounts"].append({"name": VOLUME, "mountPath": WORKSPACE_PATH})


class ClaimWorkspace(WorkspaceView):
    """The workspace as a claim of its own in the backend's namespace, which tasks mount at KFP's path."""

    def __init__(self, workspace: Workspace, backend: KubernetesBackend) -> None:
        super().__init__(workspace, WORKSPACE_PATH)
        self.backend = backend

    def prepare(self) -> None:
        ensure_claim(self.backend.core, self.backend.namespace, self.workspace, self.backend.storage_class)

    def files(self) -> RootFiles:
        # A helper pod made for the workspace's claim: the engine never mounts a claim itself.
        settings = dataclasses.replace(self.backend.settings, claim=claim_name(self.workspace))
        return self.backend.volume_files(HelperPod(self.backend.core, settings, self.backend.helper.image))

    def remove(self) -> None:
        # Its helper pod, if the run had one, goes first: the claim is deleted only once no pod uses it.
        core, namespace = self.backend.core, self.backend.namespace
        with contextlib.suppress(NotFound), translated("removing the workspace's volume helper pod"):
            core.delete_namespaced_pod(
                helper_name(claim_name(self.workspace)), namespace, grace_period_seconds=0
            )
        delete_claim(core, namespace, self.workspace)
