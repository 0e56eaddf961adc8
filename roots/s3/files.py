"""The pipeline root in an S3 bucket, as the engine reads and prepares it.

A folder is a key prefix. `make_folders` and `reset(create=True)` leave a zero-byte `folder/` object, as
S3 consoles do, so that a folder made empty exists; it is no file of the folder's.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import botocore.exceptions

from backends.base import PermanentBackendError
from roots import beneath
from roots.beneath import RefusedFile, TooLarge
from roots.files import MAX_FOLDER_FILES, Digest, RootFiles, folder_digest
from roots.s3 import S3Root
from roots.s3.client import error_code, make_client, translated

_CHUNK = 1 << 20
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_MISSING = ("NoSuchKey", "404")  # what GetObject and HeadObject answer for a key that is not there


class S3RootFiles(RootFiles):
    def __init__(self, root: str, client: Any | None = None) -> None:
        self.root = S3Root.parse(root)
        self.client = client or make_client()

    def check(self) -> None:
        """Fail with a one-line PermanentBackendError unless the bucket answers to these credentials."""
        doing = f"reaching the root {self.root.uri}"
        with translated(doing):
            try:
                self.client.head_bucket(Bucket=self.root.bucket)
            except botocore.exceptions.ClientError as exc:
                # HeadBucket answers with a bare status, no error code in a body.
                if error_code(exc) == "404":
                    raise PermanentBackendError(f"{doing}: the bucket does not exist") from exc
                raise

    # -- reading ----------------------------------------------------------------------------------

    def read(self, paths: Sequence[str], max_bytes: int | None = None) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for path in paths:
            answer = self._get_object(path)
            if answer is None:
                continue
            size = int(answer.get("ContentLength") or 0)
            if max_bytes is not None and size > max_bytes:
                answer["Body"].close()
                raise TooLarge(path, size, max_bytes)
            found[path] = answer["Body"].read()
        return found

    def read_part(self, path: str, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        key = self.root.key(path)
        with translated(f"reading {key} in bucket {self.root.bucket}"):
            try:
                answer = self.client.get_object(
                    Bucket=self.root.bucket, Key=key, Range=f"bytes={offset}-{offset + size - 1}"
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in (*_MISSING, "InvalidRange"):  # no object, or nothing from offset on
                    return b""
                raise
        return bytes(answer["Body"].read())

    def exists(self, paths: Sequence[str]) -> set[str]:
        return {path for path in paths if self._is_file(path) or self._has_under(path)}

    def digests(self, paths: Sequence[str]) -> dict[str, Digest]:
        found: dict[str, Digest] = {}
        pairs: list[tuple[str, str]]
        for path in paths:
            body = self._get(path)
            if body is not None:
                found[path] = _digest(body.iter_chunks(_CHUNK))
                continue
            size, pairs = 0, []
            for relative, key, _ in self._listed(path):
                if len(pairs) == MAX_FOLDER_FILES:
                    raise RefusedFile(f"{path} holds more than {MAX_FOLDER_FILES} files")
                child_size, child_sha = _digest(self._get_key(key).iter_chunks(_CHUNK))
                size += child_size
                pairs.append((relative, child_sha))
            if pairs or self._has_under(path):
                found[path] = (size, folder_digest(pairs))
        return found

    # -- writing ----------------------------------------------------------------------------------

    def reset(self, folder: str, create: bool) -> None:
        keys = [key for _, key, _ in self._listed(folder, markers=True)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            with translated(f"removing {folder} from {self.root.uri}"):
                answer = self.client.delete_objects(
                    Bucket=self.root.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise PermanentBackendError(
                    f"removing {first.get('Key')} from {self.root.uri}: {first.get('Message')}"
                )
        if create:
            self.make_folders([folder])

    def make_folders(self, folders: Sequence[str]) -> None:
        for folder in folders:
            with translated(f"making {folder} in {self.root.uri}"):
                self.client.put_object(Bucket=self.root.bucket, Key=self.root.key(folder) + "/", Body=b"")

    def write(self, path: str, data: bytes) -> None:
        # An S3 object appears whole or not at all: no temporary name needed.
        with translated(f"writing {path} to {self.root.uri}"):
            self.client.put_object(Bucket=self.root.bucket, Key=self.root.key(path), Body=data)

    def copy_in(self, source: Path, path: str) -> None:
        # Symbolic links are left out: a task could point one at any file of the machine that uploads.
        if source.is_symlink():
            raise PermanentBackendError(f"{source} is a symbolic link, not a file or folder to upload")
        if not source.is_dir():
            self._upload(source, path)
            return
        for folder, dirs, names in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(folder, d)))
            for name in sorted(names):
                child = Path(folder, name)
                if child.is_file() and not child.is_symlink():
                    self._upload(child, f"{path}/{child.relative_to(source).as_posix()}")

    def copy_out(self, folder: str, target: Path) -> int:
        count = 0
        for relative, key, _ in self._listed(folder):
            if posixpath.normpath(relative).startswith(("../", "/")) or relative in ("", "."):
                raise PermanentBackendError(f"object key {key!r} points outside {folder}")
            self._download(key, target / relative)
            count += 1
        return count

    def upload_beneath(self, base: Path, relative: str, path: str) -> int:
        """Upload the regular files of the folder `base/relative` to `path`, walked without following a
        link (a task wrote there: roots.beneath); the number of files."""
        folder = beneath.open_folder(base, relative)
        if folder is None:
            return 0
        count = 0
        try:
            for name, fd, _ in beneath.regular_files(folder, relative, sys.maxsize):
                with os.fdopen(os.dup(fd), "rb") as handle, translated(f"uploading {name} to {path}"):
                    self.client.upload_fileobj(handle, self.root.bucket, self.root.key(f"{path}/{name}"))
                count += 1
        finally:
            os.close(folder)
        return count

    def download(self, path: str, target: Path) -> int:
        """Copy the file or folder `path` to `target` (the file itself, or the folder's files under it)."""
        if self._is_file(path):
            self._download(self.root.key(path), target)
            return 1
        return self.copy_out(path, target)

    # -- helpers ----------------------------------------------------------------------------------

    def _get(self, path: str) -> Any | None:
        """The body of the object at `path`, or None when there is none."""
        answer = self._get_object(path)
        return None if answer is None else answer["Body"]

    def _get_object(self, path: str) -> dict[str, Any] | None:
        """GetObject's answer for the object at `path`, or None when there is none."""
        key = self.root.key(path)
        with translated(f"reading {key} in bucket {self.root.bucket}"):
            try:
                answer: dict[str, Any] = self.client.get_object(Bucket=self.root.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                raise
        return answer

    def _get_key(self, key: str) -> Any:
        with translated(f"reading {key} in bucket {self.root.bucket}"):
            return self.client.get_object(Bucket=self.root.bucket, Key=key)["Body"]

    def _is_file(self, path: str) -> bool:
        with translated(f"looking up {path} in {self.root.uri}"):
            try:
                self.client.head_object(Bucket=self.root.bucket, Key=self.root.key(path))
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in _MISSING:
                    return False
                raise
        return True

    def _has_under(self, folder: str) -> bool:
        with translated(f"listing {folder} in {self.root.uri}"):
            answer = self.client.list_objects_v2(
                Bucket=self.root.bucket, Prefix=self.root.key(folder) + "/", MaxKeys=1
            )
        return bool(answer.get("KeyCount"))

    def _listed(self, folder: str, markers: bool = False) -> Iterator[tuple[str, str, int]]:
        """(path relative to `folder`, key, size) of every object under `folder`; folder markers (keys
        ending in /) only with `markers`."""
        prefix = self.root.key(folder) + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        with translated(f"listing {folder} in {self.root.uri}"):
            pages = list(paginator.paginate(Bucket=self.root.bucket, Prefix=prefix))
        for page in pages:
            for item in page.get("Contents") or []:
                key = item["Key"]
                if key.endswith("/") and not markers:
                    continue
                yield key[len(prefix) :], key, int(item.get("Size", 0))

    def _upload(self, source: Path, path: str) -> None:
        with translated(f"uploading {source} to {self.root.uri}/{path}"):
            self.client.upload_file(str(source), self.root.bucket, self.root.key(path))

    def _download(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # boto3 writes to a temporary name and renames it: a reader never sees half a file.
        with translated(f"downloading {key} from bucket {self.root.bucket}"):
            self.client.download_file(self.root.bucket, key, os.fspath(target))


def _digest(chunks: Iterator[bytes]) -> Digest:
    sha, size = hashlib.sha256(), 0
    for chunk in chunks:
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()
