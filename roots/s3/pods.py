"""A task pod for an object-store root: its files staged in and out inside the pod, which cannot reach the
engine's machine, so that the task sees plain files at /s3/bucket/key (KFP's convention).

- init `flow-tools` (the busybox image): copies its static busybox into the emptyDir /flow-tools, as KFP
  copies its launcher in (the task's image may have no shell at all), and makes the task's output folder
  in the emptyDir /s3.
- init `stage-in` (an image with python3 and boto3, the flow image by default), for a task with inputs:
  downloads them into /s3.
- `main`: the task's command, run by that busybox's sh, which keeps its exit code as the container's,
  passes SIGTERM on, and writes the code to a marker file when the command ends.
- `stage-out`, beside it: waits for the marker and uploads the output folder when the task exited 0; a
  failed upload ends it non-zero, which fails the pod, and the task with it.
Kubernetes 1.20 has no native sidecars: stage-out is an ordinary container that ends by itself.
Credentials reach the staging containers only, never the task: from a secret (`envFrom`), else copied
from the engine's AWS environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import PermanentBackendError, TaskSpec
from roots.base import TaskView
from roots.s3 import LOCAL_MOUNT, S3Root

if TYPE_CHECKING:
    from backends.k8s import KubernetesBackend
    from roots.s3.files import S3RootFiles

S3_VOLUME, TOOLS_VOLUME = "flow-s3", "flow-tools"
TOOLS = "/flow-tools"
TOOLS_INIT, STAGE_IN, STAGE_OUT = "flow-tools", "stage-in", "stage-out"
MARKER = f"{TOOLS}/exit-code"
# The AWS settings copied from the engine's environment when no secret is named.
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)
_TOOLS_SCRIPT = 'cp /bin/busybox "$1" && mkdir -p "$2" && chmod 0777 "$2"'
_PROGRAM = (Path(__file__).parent / "podstage.py").read_text(encoding="utf-8")
# Runs the task's command ("$@") with the copied busybox's sh. That busybox prefers its own applets, so the
# command is looked up on the image's PATH first: the task runs the image's programs, not busybox's.
WRAPPER = f"""
case "$1" in
  */*) program=$1 ;;
  *) program=""; IFS=:
     for dir in ${{PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}}; do
       if [ -f "$dir/$1" ] && [ -x "$dir/$1" ]; then program=$dir/$1; break; fi
     done; unset IFS
     if [ -z "$program" ]; then echo "$1: command not found" >&2; code=127; fi ;;
esac
if [ -n "$program" ]; then
  shift
  "$program" "$@" &
  child=$!
  trap 'kill -TERM $child 2>/dev/null' TERM INT
  while :; do wait $child; code=$?; kill -0 $child 2>/dev/null || break; done
fi
echo $code > {MARKER}.part && mv {MARKER}.part {MARKER}
exit $code
"""


@dataclass(frozen=True)
class StagingSettings:
    image: str  # python3 and boto3
    tools_image: str  # a static busybox at /bin/busybox
    secret: str | None = None  # a secret with the AWS_* variables, for the staging containers
    env: dict[str, str] = field(default_factory=dict)  # else these, from the engine's environment

    @classmethod
    def from_environment(cls, image: str, tools_image: str, secret: str | None) -> StagingSettings:
        env = {} if secret else {name: os.environ[name] for name in AWS_ENV if os.environ.get(name)}
        return cls(image, tools_image, secret, env)


class PodView(TaskView):
    """Each task pod stages its own files: the engine's machine is out of its reach."""

    copies = True

    def __init__(self, root: S3Root, cluster: KubernetesBackend) -> None:
        self.root, self.cluster = root, cluster
        self.path, self.uri = root.local_path, root.uri  # kfp maps the URI to the path
        self._files: S3RootFiles | None = None

    def files(self) -> S3RootFiles:
        if self._files is None:
            self._files = self.root.files()
        return self._files

    def add_to_pod(self, pod: dict[str, Any], task: TaskSpec) -> None:
        settings = self.cluster.settings
        add_staging(
            pod, task, self.root, self.cluster.staging, settings.pull_policy, settings.run_as_non_root
        )


def add_staging(
    pod: dict[str, Any],
    task: TaskSpec,
    root: S3Root,
    settings: StagingSettings,
    pull_policy: str,
    non_root: bool,
) -> None:
    """Turn the pod `pod` of `task` (without the root's volume) into one that stages the task's files."""
    from backends.k8s.pods import MAIN_CONTAINER  # the backend imports this module as it loads

    spec = pod["spec"]
    main = next(c for c in spec["containers"] if c["name"] == MAIN_CONTAINER)
    if "command" not in main:
        raise PermanentBackendError(
            "with an s3:// root on a cluster a component needs a command: flow wraps it to stage its outputs"
        )
    command = [*main.pop("command"), *main.pop("args", [])]
    main["command"] = [f"{TOOLS}/busybox", "sh", "-c", WRAPPER, "flow-task", *command]
    s3_mount = {"name": S3_VOLUME, "mountPath": LOCAL_MOUNT}
    tools_mount = {"name": TOOLS_VOLUME, "mountPath": TOOLS}
    main.setdefault("volumeMounts", []).extend([s3_mount, tools_mount])
    spec.setdefault("volumes", []).extend(
        [{"name": S3_VOLUME, "emptyDir": {}}, {"name": TOOLS_VOLUME, "emptyDir": {}}]
    )

    plan = json.dumps(
        {
            "bucket": root.bucket,
            "prefix": root.prefix,
            "inputs": list(task.root_inputs),
            "outputs": task.root_outputs,
            "marker": MARKER,
        }
    )
    outputs = f"{root.local_path}/{task.root_outputs}"
    tools = {
        "name": TOOLS_INIT,
        "image": settings.tools_image,
        "imagePullPolicy": pull_policy,
        # The output folder is open to all: the task may run as any user.
        "command": ["sh", "-c", _TOOLS_SCRIPT, "sh", f"{TOOLS}/busybox", outputs],
        "volumeMounts": [tools_mount, s3_mount],
    }
    stage_in = _stager(STAGE_IN, "in", plan, settings, pull_policy, non_root, [s3_mount])
    # A task without inputs spares a container's start.
    spec["initContainers"] = [tools, stage_in] if task.root_inputs else [tools]
    spec["containers"].append(
        _stager(STAGE_OUT, "out", plan, settings, pull_policy, non_root, [s3_mount, tools_mount])
    )


def _stager(
    name: str,
    mode: str,
    plan: str,
    settings: StagingSettings,
    pull_policy: str,
    non_root: bool,
    mounts: list[dict[str, str]],
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": pull_policy,
        "command": ["python3", "-c", _PROGRAM, mode, plan],
        "env": [{"name": k, "value": v} for k, v in settings.env.items()],
        "volumeMounts": mounts,
        # Its one-line error is the pod's message when staging fails.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if settings.secret:
        container["envFrom"] = [{"secretRef": {"name": settings.secret}}]
    if not non_root:
        # The task may leave files only root can read; the flow image runs as nobody by default.
        container["securityContext"] = {"runAsUser": 0}
    return container
