"""What an `s3://bucket/prefix` root names, checked, and where tasks see it (KFP's /s3/ convention)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backends.base import PermanentBackendError, is_s3_root

SCHEME = "s3://"
LOCAL_MOUNT = "/s3"  # where KFP's executor looks for an s3:// artifact: s3://b/k is the file /s3/b/k
# S3's rules for bucket names (path-style addressing, so dots are allowed).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class S3Root:
    bucket: str
    prefix: str  # no leading or trailing slash; "" for the whole bucket

    @classmethod
    def parse(cls, root: str) -> S3Root:
        """The root written `s3://bucket[/prefix]`; PermanentBackendError naming what is wrong."""
        if not is_s3_root(root):
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
