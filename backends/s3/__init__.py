"""An object-store pipeline root: `s3://bucket/prefix` on S3 or any S3-compatible store (MinIO, moto).

Tasks see its files as plain files under `/s3/bucket/prefix` (KFP's local-path convention), staged in
before they start and out once they succeeded: on the engine's machine for the process and Docker backends
(backends.s3.staging), inside the pod for Kubernetes (backends.s3.podstage).
"""
