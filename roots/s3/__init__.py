"""A pipeline root in an object store: `s3://bucket/prefix` on S3 or any S3-compatible store (MinIO, moto).

Tasks see its files as plain files under `/s3/bucket/prefix` (KFP's local-path convention), staged in
before they start and out once they succeeded: through a folder of the engine's machine for tasks of this
machine (roots.s3.staging), inside the pod for Kubernetes (roots.s3.pods, roots.s3.podstage). The engine
and the UI read it from any machine with the store's keys (roots.s3.files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from backends.base import PermanentBackendError
from backends.extras import missing_extra
from roots.base import Root, TaskView

if TYPE_CHECKING:
    from backends.k8s import KubernetesBackend
    from roots.s3.files import S3RootFiles

SCHEME = "s3://"
LOCAL_MOUNT = "/s3"  # where KFP's executor looks for an s3:// artifact: s3://b/k is the file /s3/b/k
# S3's rules for bucket names (path-style addressing, so dots are allowed).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class S3Root(Root):
    bucket: str
    prefix: str  # no leading or trailing slash; "" for the whole bucket

    scheme: ClassVar[str] = SCHEME
    kind: ClassVar[str] = "the object store"

    @classmethod
    def parse(cls, root: str) -> S3Root:
        """The root written `s3://bucket[/prefix]`; PermanentBackendError naming what is wrong."""
        if not root.startswith(SCHEME):
            raise PermanentBackendError(f"an object-store root is written s3://BUCKET/PREFIX, not {root!r}")
        bucket, _, prefix = root.removeprefix(SCHEME).partition("/")
        prefix = prefix.rstrip("/")
        if not bucket:
            raise PermanentBackendError(f"the root {root!r} names no bucket (s3://BUCKET/PREFIX)")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise PermanentBackendError(f"{bucket!r} in {root!r} is not a valid S3 bucket name")
        for segment in prefix.split("/") if prefix else []:
            if not _SEGMENT.match(segment) or segment in (".", ".."):
                raise PermanentBackendError(
                    f"the prefix of {root!r} has an empty, '.' or '..' part, or characters other than "
                    "letters, digits, '_', '.' and '-'"
                )
        return cls(bucket, prefix)

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"

    @property
    def local_path(self) -> str:
        """The root as a task sees it in its container."""
        return f"{LOCAL_MOUNT}/{self.bucket}/{self.prefix}" if self.prefix else f"{LOCAL_MOUNT}/{self.bucket}"

    @property
    def relative_path(self) -> str:
        """The root's folder under the folder that stands for /s3."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def key(self, path: str) -> str:
        """The object key of `path`, relative to the root."""
        return f"{self.prefix}/{path}" if self.prefix else path

    def made(self) -> S3Root:
        self.files().check()
        return self

    def files(self) -> S3RootFiles:
        return files_at(self.uri)

    def on_host(self, backend: str, staging: Path) -> TaskView:
        from roots.s3.staging import HostView

        return HostView(self, staging)

    def in_containers(self, backend: str, staging: Path, folder_mode: int | None) -> TaskView:
        from roots.s3.staging import ContainerView

        return ContainerView(self, staging, folder_mode)

    def in_pods(self, backend: str, cluster: KubernetesBackend) -> TaskView:
        from roots.s3.pods import PodView

        return PodView(self, cluster)


def files_at(uri: str) -> S3RootFiles:
    """The objects under `uri` (s3://bucket[/prefix]) as files; PermanentBackendError naming the extra to
    install when boto3 is missing."""
    missing = missing_extra("boto3", "s3", f"reading {uri}")
    if missing:
        raise PermanentBackendError(missing)
    from roots.s3.files import S3RootFiles  # boto3 is loaded only for an object-store root

    return S3RootFiles(uri)
