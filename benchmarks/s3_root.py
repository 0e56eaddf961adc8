"""The cost of an s3:// pipeline root: the same run with a folder (or, on a cluster, volume claim) root and
with an s3:// root, on one backend.

The run is the conformance suite's two-task wiring pipeline (a parameter and a file artifact passed from
one task to the next), so each task of the s3:// run stages an input in and its outputs out.

    python benchmarks/s3_root.py [--backend docker|k8s|process] [--bucket flow-bench] [--rounds 3]
        [--image flow-test/busybox:latest] [--namespace flow]

S3 is the one the usual AWS environment names (scripts/s3-up.sh prints it); the bucket is made when
missing. On k8s the staging image is the flow image (scripts/build-flow-image.sh). Times are wall-clock
seconds measured in this run, the two roots alternately for `--rounds` rounds; the median ratio is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from backends.base import Backend
from runner import run
from runner.testing.conformance import WIRING
from runner.testing.shellsteps import BUSYBOX


def backend_for(name: str, image: str, namespace: str) -> Backend:
    """The backend, running `image` wherever the pipeline names busybox; images are never pulled."""
    if name == "docker":
        from backends.local import DockerBackend

        return DockerBackend(image_map={BUSYBOX: image}, pull="never")
    if name == "k8s":
        from backends.k8s import KubernetesBackend

        images = {BUSYBOX: image}
        return KubernetesBackend(namespace=namespace, image_map=images, pull="never", files_image=image)
    from backends.process import ProcessBackend

    return ProcessBackend()


def timed(backend: Backend, root: str | None) -> float:
    start = time.monotonic()
    result = run(WIRING, backend=backend, params={"n": 5}, root=root, cache=False)
    if not result.succeeded:
        raise SystemExit(f"the run with root {root} failed: {result.error}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="docker", choices=["docker", "k8s", "process"])
    parser.add_argument("--bucket", default="flow-bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image", default="flow-test/busybox:latest", help="a local busybox image")
    parser.add_argument("--namespace", default="flow", help="for k8s")
    args = parser.parse_args()
    client: Any = boto3.session.Session().client("s3")
    try:
        client.head_bucket(Bucket=args.bucket)
    except botocore.exceptions.ClientError:
        client.create_bucket(Bucket=args.bucket)
    backend = backend_for(args.backend, args.image, args.namespace)
    s3_root = f"s3://{args.bucket}/{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        local_root = backend.default_root(Path(folder) / "root")
        timed(backend, local_root)  # warm: images, the claim's helper pod, the S3 client
        timed(backend, s3_root)
        ratios = []
        for _ in range(args.rounds):
            local, s3 = timed(backend, local_root), timed(backend, s3_root)
            ratios.append(s3 / local)
            print(f"{args.backend}: local root {local:.2f}s, s3 root {s3:.2f}s, ratio {s3 / local:.2f}")
    backend.close()
    median = statistics.median(ratios)
    print(f"{args.backend}: median ratio s3 root / local root {median:.2f} over {args.rounds} rounds")


if __name__ == "__main__":
    main()
