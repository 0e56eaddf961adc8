"""When a failed task runs again, per its retryPolicy (exponential backoff, as KFP and Argo compute it)."""

from __future__ import annotations

from backends.base import REASON_CANCELLED
from runner.spec.model import RetryPolicy


def should_retry(policy: RetryPolicy | None, attempts: int, reason: str) -> bool:
    """Whether a task that failed on attempt number `attempts` gets another one."""
    return policy is not None and reason != REASON_CANCELLED and attempts <= policy.max_retries


def backoff_seconds(policy: RetryPolicy, attempts: int) -> float:
    """The wait before the next attempt after `attempts` failed ones: duration * factor^(n-1), capped."""
    delay = policy.backoff_seconds * policy.backoff_factor ** max(0, attempts - 1)
    return float(min(delay, policy.backoff_max_seconds))
