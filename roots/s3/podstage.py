"""Stages a task's files between S3 and a pod's /s3 emptyDir: the program of a task pod's staging
containers on Kubernetes, where the engine's machine is out of reach.

It needs only the standard library and boto3, and is passed to `python3 -c` whole, so any image with both
serves (the flow image does). Usage: `python3 -c SOURCE in|out SPEC`, SPEC a JSON object:
  bucket, prefix  the root s3://bucket/prefix, which the task sees at /s3/bucket/prefix
  inputs          paths under the root of the input artifacts (files or folders)
  outputs         the task's output folder under the root
  marker          the file the task's wrapper writes its exit code to when it ends
`in` downloads the inputs; `out` waits for the marker and, when the task exited 0, uploads the output
folder. Endpoint and keys come from the usual AWS environment.
A failure is one line on stderr and in the termination log, and a non-zero exit.
"""

import json
import os
import stat
import sys
import time
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

MOUNT = "/s3"
TERMINATION_LOG = "/dev/termination-log"
_MISSING = ("404", "NoSuchKey")
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def main(mode: str, spec: dict[str, Any]) -> None:
    config = botocore.config.Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path"},
    )
    client = boto3.session.Session().client("s3", config=config)
    base = os.path.join(MOUNT, spec["bucket"], spec["prefix"]).rstrip("/")
    if mode == "in":
        stage_in(client, spec, base)
    elif mode == "out":
        code = wait_for(spec["marker"])
        if code == 0:
            stage_out(client, spec, base)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def key_of(spec: dict[str, Any], path: str) -> str:
    return f"{spec['prefix']}/{path}" if spec["prefix"] else path


def stage_in(client: Any, spec: dict[str, Any], base: str) -> None:
    bucket = spec["bucket"]
    for path in spec["inputs"]:
        key = key_of(spec, path)
        target = os.path.join(base, path)
        try:
            client.head_object(Bucket=bucket, Key=key)
            download(client, bucket, key, target)
            continue
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in _MISSING:
                raise
        found = 0
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/")
        for page in pages:
            for item in page.get("Contents") or []:
                relative = item["Key"][len(key) + 1 :]
                if item["Key"].endswith("/") or os.path.normpath(relative).startswith(".."):
                    continue
                download(client, bucket, item["Key"], os.path.join(target, relative))
                found += 1
        if not found:
            raise RuntimeError(f"input artifact s3://{bucket}/{key} is missing")


def download(client: Any, bucket: str, key: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    client.download_file(bucket, key, target)


def wait_for(marker: str) -> int:
    """The task's exit code, once its wrapper wrote it."""
    while not os.path.lexists(marker):
        time.sleep(0.1)
    # The task shares the marker's folder: a link or a pipe in its place must not hang or mislead this.
    fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RuntimeError(f"{marker} is not a regular file")
        return int(handle.read(64).strip() or b"1")


def stage_out(client: Any, spec: dict[str, Any], base: str) -> None:
    """Upload the regular files of the output folder. The task could write anywhere in /s3: every folder
    on the way is opened without following a link, and links inside are left out, never followed (to this
    container's own files, its credentials among them)."""
    folder = os.open(MOUNT, os.O_RDONLY | os.O_DIRECTORY)
    relative_base = os.path.relpath(base, MOUNT)
    outputs = f"{relative_base}/{spec['outputs']}"
    for name in outputs.split("/"):
        try:
            inner = os.open(name, _FOLDER, dir_fd=folder)
        except FileNotFoundError:
            return
        except OSError as exc:  # a link opened as a folder is ENOTDIR, or ELOOP
            raise RuntimeError(f"{outputs}: {name} is a symbolic link or not a folder") from exc
        finally:
            os.close(folder)
        folder = inner
    for current, _, names, current_fd in os.fwalk(".", dir_fd=folder, follow_symlinks=False):
        for name in names:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=current_fd)
            except OSError:  # a link, or gone
                continue
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    continue
                relative = os.path.normpath(f"{spec['outputs']}/{current}/{name}").replace(os.sep, "/")
                client.upload_fileobj(handle, spec["bucket"], key_of(spec, relative))
    os.close(folder)


if __name__ == "__main__":
    try:
        main(sys.argv[1], json.loads(sys.argv[2]))
    except Exception as exc:  # any failure: one line where Kubernetes shows it, and a non-zero exit
        message = f"staging {sys.argv[1]}: {type(exc).__name__}: {exc}".replace("\n", " ")
        print(message, file=sys.stderr)
        try:
            with open(TERMINATION_LOG, "w") as log:
                log.write(message)
        except OSError:
            pass
        sys.exit(1)
