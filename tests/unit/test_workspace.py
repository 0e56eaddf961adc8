"""A pipeline's workspace as loaded (its size and claim patch checked: the file is untrusted), the claim and
pod mount made of it on Kubernetes, and the tasks that get it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from backends.base import PermanentBackendError, Resources, TaskSpec
from backends.k8s.pods import PodSettings, pod_manifest
from backends.k8s.workspace import claim_manifest, mount
from backends.workspaces import Workspace
from runner.errors import SpecError
from runner.spec import load_text
from runner.spec.model import Importer
from runner.testing.conformance import WORKSPACE, WORKSPACE_IMPORT

PIPELINE, _ = WORKSPACE.read_text().split("---\n")
SELECTOR = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}


def with_workspace(workspace: Any) -> str:
    platform = {"platforms": {"kubernetes": {"pipelineConfig": {"workspace": workspace}}}}
    return PIPELINE + "---\n" + yaml.safe_dump(platform)


def test_kfp_workspace_is_loaded() -> None:
    spec = load_text(WORKSPACE.read_text())
    assert spec.workspace is not None and spec.workspace.size == "64Mi"
    assert spec.workspace.pvc_patch == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "flow-workspace-test",
    }


@pytest.mark.parametrize(
    ("workspace", "expected", "where"),
    [
        ({"size": "-1Gi"}, "size '-1Gi' is not a Kubernetes quantity", "workspace.size"),
        ({"size": "10 apples"}, "is not a Kubernetes quantity", "workspace.size"),
        ({"size": 10}, "expected a string, got an integer 10", "workspace.size"),  # KFP's schema, first
        ({}, "size None is not", "workspace.size"),
        ("1Gi", "expected a mapping", "pipelineConfig.workspace"),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"volumeName": "team-data"}}},
            "would bind the workspace to an existing volume",
            "pvcSpecPatch.volumeName",
        ),
        (
            {
                "size": "1Gi",
                "kubernetes": {"pvcSpecPatch": {"dataSource": {"kind": "PersistentVolumeClaim"}}},
            },
            "would fill the workspace from another claim",
            "pvcSpecPatch.dataSource",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"dataSourceRef": {"name": "x"}}}},
            "would fill the workspace from another object",
            "pvcSpecPatch.dataSourceRef",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"storageClassName": ""}}},
            "'' is not a storage class name",
            "pvcSpecPatch.storageClassName",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"accessModes": ["ReadWriteAll"]}}},
            "must be a list of",
            "pvcSpecPatch.accessModes",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"volumeMode": "Block"}}},
            "a workspace is a Filesystem volume",
            "pvcSpecPatch.volumeMode",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"metadata": {"name": "flow-root"}}}},
            "unknown field 'metadata'",
            "pvcSpecPatch",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"resources": {"limits": {"storage": "1Ti"}}}}},
            "only requests.storage",
            "pvcSpecPatch.resources",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": {"selector": {"matchLabels": {"a": ["b"]}}}}},
            "is not a label and value",
            "pvcSpecPatch.selector.matchLabels",
        ),
        (
            {"size": "1Gi", "kubernetes": {"pvcSpecPatch": "storageClassName: x"}},
            "expected a mapping",
            "kubernetes.pvcSpecPatch",
        ),
    ],
)
def test_a_malformed_or_hostile_workspace_is_a_load_error(workspace: Any, expected: str, where: str) -> None:
    with pytest.raises(SpecError) as raised:
        load_text(with_workspace(workspace), "p.yaml")
    assert expected in raised.value.message, raised.value.message
    assert where in str(raised.value.where) and str(raised.value.where).startswith("p.yaml: ")


def test_the_placeholder_without_a_workspace_is_a_load_error() -> None:
    with pytest.raises(SpecError) as raised:
        load_text(PIPELINE, "p.yaml")
    assert "declares no workspace" in raised.value.message
    assert raised.value.where == "p.yaml: root.dag.tasks.read-note.inputs.parameters.folder"


def test_the_claim_requests_the_declared_size_whatever_the_patch_says() -> None:
    spec = load_text(
        with_workspace(
            {
                "size": "2Gi",
                "kubernetes": {
                    "pvcSpecPatch": {
                        "accessModes": ["ReadWriteMany"],
                        "resources": {"requests": {"storage": "1Ti"}},
                        "selector": {
                            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]
                        },
                    }
                },
            }
        )
    )
    assert spec.workspace is not None
    workspace = Workspace("abcd1234", "/unused", spec.workspace.size, spec.workspace.pvc_patch)
    claim = claim_manifest(workspace, storage_class="fast")
    assert claim["metadata"]["name"] == "flow-abcd1234-workspace"
    assert claim["metadata"]["labels"]["flow.run"] == "abcd1234"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "fast",  # the backend's --storage-class, the patch naming none
        "selector": SELECTOR,
        "resources": {"requests": {"storage": "2Gi"}},
    }
    defaults = claim_manifest(Workspace("abcd1234", "/unused", "1Gi"), storage_class=None)
    assert defaults["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }


def _task(kubernetes: dict[str, Any]) -> TaskSpec:
    return TaskSpec(
        run_id="abcd1234",
        task_path="t",
        attempt=1,
        name="flow-abcd1234-t-1",
        image="busybox",
        command=["true"],
        resources=Resources(),
        kubernetes=kubernetes,
    )


def test_a_pod_gets_the_workspace_at_the_kubeflow_path() -> None:
    workspace = Workspace("abcd1234", "/unused", "1Gi")
    manifest = pod_manifest(_task({}), "busybox", PodSettings(namespace="flow", claim="flow-root"))
    mount(manifest, workspace)
    assert {"name": "kfp-workspace", "mountPath": "/kfp-workspace"} in manifest["spec"]["containers"][0][
        "volumeMounts"
    ]
    assert {
        "name": "kfp-workspace",
        "persistentVolumeClaim": {"claimName": "flow-abcd1234-workspace"},
    } in manifest["spec"]["volumes"]


@pytest.mark.parametrize("path", ["/kfp-workspace", "/kfp-workspace/", "/kfp-workspace/inner"])
def test_a_task_volume_that_would_shadow_the_workspace_is_refused(path: str) -> None:
    config = {"emptyDirMounts": [{"volumeName": "scratch", "mountPath": path}]}
    manifest = pod_manifest(_task(config), "busybox", PodSettings(namespace="flow", claim="flow-root"))
    with pytest.raises(PermanentBackendError, match="conflicts with the workspace"):
        mount(manifest, Workspace("abcd1234", "/unused", "1Gi"))


def test_an_import_into_the_workspace_without_one_is_a_load_error() -> None:
    pipeline, _ = WORKSPACE_IMPORT.read_text().split("---\n")
    with pytest.raises(SpecError) as raised:
        load_text(pipeline, "p.yaml")
    assert "download_to_workspace=True) needs a workspace" in raised.value.message
    assert raised.value.where == "p.yaml: deploymentSpec.executors.exec-importer.importer.downloadToWorkspace"
    spec = load_text(WORKSPACE_IMPORT.read_text())
    importer = spec.components["comp-importer"].executor
    assert isinstance(importer, Importer) and importer.download_to_workspace
