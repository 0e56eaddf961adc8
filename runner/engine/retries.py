"""When a failed task runs again, per its retryPolicy (exponential backoff, as KFP and Argo compute it)."""

from __future__ import annotations

import math

from backends.base import REASON_CANCELLED, REASON_EVICTED
from runner.spec.model import RetryPolicy

# An evicted pod failed for the node's sake, not its own: it runs again this many times even without a
# retry policy (each eviction counts as an attempt), as a Kubernetes Job's pod would be replaced.
EVICTION_RETRIES = 2


def should_retry(policy: RetryPolicy | None, attempts: int, reason: str) -> bool:
    """Whether a task that failed on attempt number `attempts` gets another one."""
    if reason == REASON_CANCELLED:
        return False
    allowed = policy.max_retries if policy is not None else 0
    if reason == REASON_EVICTED:
        allowed = max(allowed, EVICTION_RETRIES)
    return attempts <= allowed


def backoff_seconds(policy: RetryPolicy, attempts: int) -> float:
    """The wait before the next attempt after `attempts` failed ones: duration * factor^(n-1), capped."""
    try:
        delay = policy.backoff_seconds * policy.backoff_factor ** max(0, attempts - 1)
    except OverflowError:  # a factor above 1 after many attempts: the cap applies
        delay = math.inf
    return float(min(delay, policy.backoff_max_seconds))
