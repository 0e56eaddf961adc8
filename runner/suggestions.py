""" "Did you mean": the name nearest to one that is not there (a misspelt task, backend or parameter)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(wanted: str, names: Iterable[str]) -> str:
    """`; did you mean 'x'?` naming the one of `names` closest to `wanted`, or "" when none is close."""
    candidates = list(names)
    close = difflib.get_close_matches(wanted, candidates, n=1, cutoff=0.6)
    if not close:  # difflib counts a change of case as a difference; a reader does not
        lowered = {name.lower(): name for name in candidates}
        close = [lowered[wanted.lower()]] if wanted.lower() in lowered else []
    return f"; did you mean {close[0]!r}?" if close else ""
