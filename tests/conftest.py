"""Shared fixtures: every test gets its own FLOW_HOME, and backends that need a daemon are checked here."""

from __future__ import annotations

import os
import secrets
import signal
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import Backend
from runner.store.url import hide_password

# Tests press Ctrl-C on `flow run` (SIGINT). A shell that starts a command in the background without job
# control has it ignore SIGINT, and its children inherit that: they would never see the key. The handler
# set here is reset to the default in each child, as a terminal's would be.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# The local test images scripts/build-test-images.sh builds; no registry is reachable from the tests.
TEST_PYTHON_IMAGE = "flow-test/python:3.11"
TEST_BUSYBOX_IMAGE = "flow-test/busybox:latest"


@pytest.fixture(autouse=True)
def flow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store, log folder, default root and user config folder for each test, never the user's."""
    home = tmp_path / "flow-home"
    monkeypatch.setenv("FLOW_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # nor the user's config file
    monkeypatch.delenv("FLOW_STORE", raising=False)  # a shared store the user named is not the tests'
    return home


def require_docker() -> None:
    """Skip without Docker, except in CI where a missing engine is a failure."""
    from backends.local import DockerBackend

    if DockerBackend.available():
        return
    message = "no Docker engine answers (scripts/docker-up.sh starts one)"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def docker_containers(run_id: str, *, running_only: bool = False) -> list[str]:
    """The names of a run's containers. From the daemon's listing alone: docker's `containers.list` also
    inspects each one, which fails on a container the run removes in between."""
    import docker

    client = docker.from_env()
    try:
        found = client.api.containers(all=not running_only, filters={"label": f"flow.run={run_id}"})
    finally:
        client.close()
    return [summary["Names"][0].lstrip("/") for summary in found]


# Public images the test pipelines name, and the local images that stand in for them here.
TEST_IMAGE_MAP = {"busybox:latest": TEST_BUSYBOX_IMAGE, "python:3.11": TEST_PYTHON_IMAGE}
IMAGE_MAP_ARGS = [
    arg for source, target in TEST_IMAGE_MAP.items() for arg in ("--image-map", f"{source}={target}")
]


# The cluster scripts/local-cluster-up.sh starts; FLOW_TEST_KUBECONFIG points the tests at another one.
LOCAL_CLUSTER = Path("/var/lib/flow-cluster")
TEST_NAMESPACE = "flow"


def flow_kubeconfig() -> str | None:
    """The kubeconfig the cluster tests use: least privilege (deploy/rbac.yaml), not cluster admin."""
    given = os.environ.get("FLOW_TEST_KUBECONFIG")
    if given:
        return given
    local = LOCAL_CLUSTER / "flow.kubeconfig"
    return str(local) if local.exists() else None


def admin_kubeconfig() -> str | None:
    """For what a test sets up around flow (a secret to read): never given to flow itself."""
    given = os.environ.get("FLOW_TEST_ADMIN_KUBECONFIG")
    local = LOCAL_CLUSTER / "admin.kubeconfig"
    return given or (str(local) if local.exists() else None)


def cluster_options(image_map: dict[str, str] | None = None) -> dict[str, Any]:
    """Options of the k8s backend in the tests: the test cluster, local images only, never pulling."""
    return {
        "kubeconfig": flow_kubeconfig(),
        "namespace": TEST_NAMESPACE,
        "image_map": {**TEST_IMAGE_MAP, **(image_map or {})},
        "pull": "never",
        "files_image": TEST_BUSYBOX_IMAGE,
    }


def require_cluster() -> None:
    """Skip without a cluster, except in CI where a missing one is a failure."""
    from backends.base import BackendUnavailableError
    from backends.k8s import KubernetesBackend

    try:
        KubernetesBackend(**cluster_options()).close()
    except BackendUnavailableError as exc:
        message = f"no Kubernetes cluster answers ({exc}; scripts/local-cluster-up.sh starts one)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)


def make_backend(name: str, image_map: dict[str, str] | None = None) -> Backend:
    """A backend for a test; images are never pulled, so a missing test image fails fast and offline."""
    if name == "docker":
        require_docker()
        from backends.local import DockerBackend

        return DockerBackend(image_map={**TEST_IMAGE_MAP, **(image_map or {})}, pull="never")
    if name == "k8s":
        require_cluster()
        from backends.k8s import KubernetesBackend

        return KubernetesBackend(**cluster_options(image_map))
    from runner.plugins import create_backend

    return create_backend(name)


@pytest.fixture(params=["process", "docker"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over the local backends."""
    name: str = request.param
    if name == "docker":
        require_docker()
    return name


@pytest.fixture
def backend(backend_name: str) -> Iterator[Backend]:
    instance = make_backend(backend_name)
    yield instance
    instance.close()


# The server scripts/postgres-up.sh starts, at the URL it prints; FLOW_TEST_POSTGRES points at another one.
POSTGRES_URL = "postgresql://flow:flow@172.17.0.1:5432/flow"


def require_postgres() -> str:
    """The test PostgreSQL server's URL; skips when none answers, except in CI where that is a failure."""
    import psycopg

    url = os.environ.get("FLOW_TEST_POSTGRES") or POSTGRES_URL
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        message = (
            f"no PostgreSQL answers at {hide_password(url)} ({reason}; scripts/postgres-up.sh starts one)"
        )
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_store_url() -> Iterator[str]:
    """A store URL naming a new, empty schema on the test server; the schema is dropped after the test."""
    import psycopg

    server = require_postgres()
    schema = f"flow_test_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if urllib.parse.urlsplit(server).query else "?"
    # libpq's `options` sets the search path of every connection the store makes, its tables go there.
    yield f"{server}{separator}options={urllib.parse.quote(f'-csearch_path={schema}')}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Parametrises a test over the store implementations: a URL of a new, empty store of each kind."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store' / 'flow.db'}"
    url: str = request.getfixturevalue("postgres_store_url")
    return url


# The S3-compatible server scripts/s3-up.sh starts (moto); FLOW_TEST_S3_ENDPOINT points the tests at another.
# The bridge address, not loopback: Docker containers and pods reach it there too.
S3_ENDPOINT = os.environ.get("FLOW_TEST_S3_ENDPOINT", "http://172.17.0.1:9000")
S3_ENV = {
    "AWS_ENDPOINT_URL": S3_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "flow",
    "AWS_SECRET_ACCESS_KEY": "flow-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
S3_TEST_BUCKET = "flow-tests"


def require_s3() -> None:
    """Skip without the S3 server, except in CI where a missing one is a failure; makes the test bucket."""
    import boto3
    import botocore.config
    import botocore.exceptions

    config = botocore.config.Config(connect_timeout=3, retries={"max_attempts": 1})
    client = boto3.session.Session().client("s3", config=config, **s3_client_args())
    try:
        names = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        message = f"no S3 server answers at {S3_ENDPOINT} ({exc}; scripts/s3-up.sh starts one)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    if S3_TEST_BUCKET not in names:
        client.create_bucket(Bucket=S3_TEST_BUCKET)


def s3_client_args() -> dict[str, str]:
    return {
        "endpoint_url": S3_ENV["AWS_ENDPOINT_URL"],
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


@pytest.fixture
def s3_root(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh s3:// pipeline root on the test server, with the AWS environment that reaches it."""
    import uuid

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    require_s3()
    return f"s3://{S3_TEST_BUCKET}/{uuid.uuid4().hex[:12]}"


FLOW_IMAGE = "flow-local/flow:dev"  # what scripts/build-flow-image.sh builds


def require_flow_image() -> None:
    """Skip without the flow image, except in CI where a missing one is a failure: pods of an s3:// root
    stage their files with it (only its python3 and boto3, so an image built from older source serves)."""
    import docker
    import docker.errors

    require_docker()
    try:
        docker.from_env().images.get(FLOW_IMAGE)
    except docker.errors.ImageNotFound:
        message = f"no {FLOW_IMAGE} image (scripts/build-flow-image.sh builds it)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
