"""The Kubernetes backend's settings: its options (`flow run --cluster --namespace ...`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.settings import ContainerSettings, Kind, setting
from roots.kinds import parse

DEFAULT_FILES_IMAGE = "busybox:1.36"
# Stages an s3:// root's files in task pods: any image with python3 and boto3; the flow image (Dockerfile).
DEFAULT_STAGING_IMAGE = "flow-local/flow:dev"


@dataclass(frozen=True)
class KubernetesSettings(ContainerSettings):
    """`pvc` names an existing claim for the root; without it the claim `flow-root` is made when missing
    (`storage_class`, `pvc_size`). With `run_as_non_root` task pods run as user and group 65534, never as
    root (the volume helper, which makes the task folders writable for them, stays root). For an s3:// root,
    `staging_image` stages each task's files in its pod, with the AWS_* variables of the secret `s3_secret`,
    else those of this process's environment."""

    context: str | None = setting(None, "kubeconfig context [default: the current one].")
    namespace: str | None = setting(None, "Namespace of the pods [default: the context's].")
    pvc: str | None = setting(None, "Existing volume claim for the pipeline root [default: flow-root, made].")
    storage_class: str | None = setting(None, "Storage class of the claim flow makes.")
    pvc_size: str = setting("10Gi", "Size of the claim flow makes [default: 10Gi].")
    service_account: str | None = setting(None, "ServiceAccount the pods run as.")
    unschedulable_timeout: float = setting(
        120.0, "How long a pod may wait for a node before its task fails [default: 120].", kind=Kind.SECONDS
    )
    s3_secret: str | None = setting(
        None,
        "With an s3:// root: a secret of AWS_* variables (keys, endpoint, region) for the pods that stage "
        "each task's files [default: this shell's AWS_* variables].",
        metavar="NAME",
    )
    staging_image: str = setting(
        DEFAULT_STAGING_IMAGE,
        "With an s3:// root: the image (python3 and boto3) that stages each task's files in its pod "
        f"[default: the flow image, {DEFAULT_STAGING_IMAGE}].",
        metavar="IMAGE",
    )
    files_image: str = setting(
        DEFAULT_FILES_IMAGE, "The image of the volume's helper pod (map it with --image-map).", cli=False
    )
    kubeconfig: str | None = setting(None, "The kubeconfig file [default: kubectl's].", cli=False)

    @classmethod
    def reaching(cls, root: str) -> dict[str, Any]:
        # A claim names its namespace; an s3:// root none (the kubeconfig's, or --namespace, finds the pods).
        return parse(root).backend_options()
