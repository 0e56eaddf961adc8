"""A pipeline root that is a Kubernetes volume claim, written `pvc://NAMESPACE/CLAIM`: task pods mount it at
/flow; the engine reaches its files through a helper pod of the cluster (backends.k8s.volume), never by
assuming the volume is on its own machine. Only the Kubernetes backend can use it, and only its own claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from backends.base import PermanentBackendError
from roots.base import MOUNT_PATH, Root, TaskView

if TYPE_CHECKING:
    from backends.base import TaskSpec
    from backends.k8s import KubernetesBackend
    from backends.k8s.volume import VolumeFiles


@dataclass(frozen=True)
class ClaimRoot(Root):
    namespace: str
    claim: str

    scheme: ClassVar[str] = "pvc://"
    kind: ClassVar[str] = "the volume claim"

    @classmethod
    def parse(cls, root: str) -> ClaimRoot:
        """The root written `pvc://NAMESPACE/CLAIM`; PermanentBackendError when it is written otherwise."""
        namespace, _, claim = root.removeprefix(cls.scheme).partition("/")
        if not root.startswith(cls.scheme) or not namespace or not claim or "/" in claim:
            raise PermanentBackendError(
                f"a cluster pipeline root is written pvc://NAMESPACE/CLAIM, not {root!r}"
            )
        return cls(namespace, claim)

    @property
    def uri(self) -> str:
        return f"{self.scheme}{self.namespace}/{self.claim}"

    def backend_options(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "pvc": self.claim}

    def in_pods(self, backend: str, cluster: KubernetesBackend) -> TaskView:
        own = ClaimRoot(cluster.namespace, cluster.claim)
        if self != own:
            raise PermanentBackendError(
                f"on this cluster the pipeline root is the volume claim {own.uri} (choose another with "
                f"--pvc) or s3://BUCKET/PREFIX, not {self.uri}"
            )
        return _ClaimView(cluster)


class _ClaimView(TaskView):
    path = uri = MOUNT_PATH

    def __init__(self, cluster: KubernetesBackend) -> None:
        self.cluster = cluster

    def files(self) -> VolumeFiles:
        self.prepare()
        return self.cluster.volume_files(self.cluster.helper)

    def prepare(self) -> None:
        self.cluster.ensure_claim()

    def add_to_pod(self, pod: dict[str, Any], task: TaskSpec) -> None:
        from backends.k8s.pods import MAIN_CONTAINER, ROOT_VOLUME  # the cluster's modules load with it

        main = next(c for c in pod["spec"]["containers"] if c["name"] == MAIN_CONTAINER)
        main.setdefault("volumeMounts", []).append({"name": ROOT_VOLUME, "mountPath": MOUNT_PATH})
        pod["spec"].setdefault("volumes", []).append(
            {"name": ROOT_VOLUME, "persistentVolumeClaim": {"claimName": self.cluster.claim}}
        )
