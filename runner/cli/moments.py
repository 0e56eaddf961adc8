"""Moments a user names on the command line: `--since 2h`, `--older-than 30d`, or an ISO date."""

from __future__ import annotations

import datetime
import re
import time

from runner.errors import UsageError

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def moment(text: str, option: str) -> float:
    """The moment `text` names, as a Unix time: an age back from now (30m, 2h, 7d, 2w) or an ISO 8601 date
    or time (2026-12-01, 2026-12-01T10:00, with an offset or else in local time, as `flow runs` shows
    times). A UsageError naming `option` for anything else."""
    given = text.strip()
    age = _AGE.match(given)
    if age is not None:
        return time.time() - float(age.group(1)) * _UNIT_SECONDS[age.group(2)]
    try:
        parsed = datetime.datetime.fromisoformat(given)
    except ValueError:
        raise UsageError(
            f"expected an age such as 30m, 2h or 7d, or an ISO date such as 2026-12-01, got {text!r}", option
        ) from None
    return parsed.timestamp()  # a time without an offset is local, as timestamp() takes it
