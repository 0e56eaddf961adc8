"""What a pod's status says about its task: running, finished, or failed for a reason worth naming.

Kubernetes keeps retrying what cannot succeed (pulling a missing image, scheduling onto no node); flow
reports those as failures instead of waiting forever.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from backends.base import (
    REASON_ERROR,
    REASON_EVICTED,
    REASON_IMAGE,
    REASON_OOM,
    REASON_TIMEOUT,
    REASON_UNSCHEDULABLE,
    Phase,
    TaskStatus,
)
from backends.k8s.pods import MAIN_CONTAINER

# Waiting reasons after which the container will never start without someone changing the cluster.
IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
# A kubelet whose watch of the pod's secrets or config maps has not caught up yet says so with this; it
# retries by itself, so the pod fails only if that lasts as long as an unschedulable pod may wait.
_CACHE_NOT_SYNCED = re.compile(r"failed to sync \w+ cache")


def task_status(pod: Any, now: datetime, unschedulable_after: float) -> TaskStatus:
    """The task's status from its pod (a kubernetes client V1Pod); `now` is an aware UTC datetime."""
    status = pod.status
    if status is None:
        return TaskStatus(Phase.PENDING)
    if status.phase == "Failed" and status.reason in ("DeadlineExceeded", "Evicted"):
        reason = REASON_TIMEOUT if status.reason == "DeadlineExceeded" else REASON_EVICTED
        message = status.message or status.reason
        if reason == REASON_TIMEOUT:
            message = f"timed out: {message}"
        return TaskStatus(Phase.FAILED, reason=reason, message=message)
    main = next((c for c in status.container_statuses or [] if c.name == MAIN_CONTAINER), None)
    state = main.state if main is not None else None
    if state is not None and state.terminated is not None and status.phase in ("Succeeded", "Failed"):
        outcome = _terminated(state.terminated)
        helper = _failed_helper(status.container_statuses) if outcome.phase == Phase.SUCCEEDED else None
        return helper or outcome
    if status.phase == "Failed":
        helper = _failed_helper(status.init_container_statuses)
        if helper is not None:
            return helper
    if state is not None and state.waiting is not None:
        waiting = state.waiting
        if waiting.reason in IMAGE_REASONS:
            image = main.image if main is not None else "?"
            return TaskStatus(
                Phase.FAILED,
                reason=REASON_IMAGE,
                message=f"image {image!r} cannot be pulled: {waiting.reason} {waiting.message or ''}".strip(),
            )
        if waiting.reason in CONFIG_REASONS and not (
            _CACHE_NOT_SYNCED.search(waiting.message or "") and _age(pod, now) < unschedulable_after
        ):
            return TaskStatus(
                Phase.FAILED,
                reason=REASON_ERROR,
                message=f"{waiting.reason}: {waiting.message or ''}".rstrip(": "),
            )
    if status.phase == "Failed":  # failed without a terminated container: say what the pod says
        return TaskStatus(
            Phase.FAILED, reason=status.reason or REASON_ERROR, message=status.message or "pod failed"
        )
    if status.phase == "Running":
        return TaskStatus(Phase.RUNNING)
    unschedulable = _unschedulable_message(pod)
    if unschedulable is not None:
        waited = _age(pod, now)
        if waited >= unschedulable_after:
            return TaskStatus(
                Phase.FAILED,
                reason=REASON_UNSCHEDULABLE,
                message=f"no node can run the pod after {waited:.0f} s: {unschedulable}",
            )
    return TaskStatus(Phase.PENDING)


def _age(pod: Any, now: datetime) -> float:
    created = pod.metadata.creation_timestamp
    return (now - created).total_seconds() if created is not None else 0.0


def _terminated(terminated: Any) -> TaskStatus:
    code = terminated.exit_code
    if terminated.reason == "OOMKilled":
        return TaskStatus(Phase.FAILED, exit_code=code, reason=REASON_OOM, message="killed: out of memory")
    if code != 0:
        message = (terminated.message or "").strip() or f"exited with code {code}"
        return TaskStatus(Phase.FAILED, exit_code=code, reason=REASON_ERROR, message=message)
    return TaskStatus(Phase.SUCCEEDED, exit_code=0)


def _failed_helper(statuses: Any) -> TaskStatus | None:
    """The failure of a container flow adds beside the task's (staging an s3:// root's files), if any."""
    for container in statuses or []:
        terminated = container.state.terminated if container.state is not None else None
        if container.name != MAIN_CONTAINER and terminated is not None and terminated.exit_code:
            message = (terminated.message or "").strip().splitlines()
            detail = message[-1] if message else f"exited with code {terminated.exit_code}"
            return TaskStatus(Phase.FAILED, reason=REASON_ERROR, message=f"{container.name}: {detail}")
    return None


def _unschedulable_message(pod: Any) -> str | None:
    for condition in pod.status.conditions or []:
        if (
            condition.type == "PodScheduled"
            and condition.status == "False"
            and condition.reason == "Unschedulable"
        ):
            return str(condition.message or "Unschedulable")
    return None


def utc_now() -> datetime:
    return datetime.now(UTC)
