"""Human-readable renderings shared by the CLI commands."""

from __future__ import annotations

import json
import time
from typing import Any


def when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "-"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def values(mapping: dict[str, Any], limit: int = 60) -> str:
    """`a=1, b="x"` shortened to `limit` characters."""
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in mapping.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def digest(value: str) -> str:
    """A content digest as git shows a commit: its first 12 hex digits, enough to tell versions apart."""
    return value.removeprefix("sha256:")[:12] or "-"
