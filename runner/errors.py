"""flow's own errors: each renders as one line naming the problem and where it is."""

from __future__ import annotations

import unicodedata


class FlowError(Exception):
    """Base of every error flow reports to users; `str()` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = one_line(message)
        self.where = one_line(where) if where is not None else None
        super().__init__(f"{self.where}: {self.message}" if self.where else self.message)


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped: a message quotes names and values
    from pipeline files and containers, and a newline in one of them must not split the message."""
    if text.isprintable():
        return text
    return "".join(
        _escaped(char) if unicodedata.category(char)[0] in "CZ" and char != " " else char for char in text
    )


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


class UsageError(FlowError):
    """Bad input from the user: a malformed pipeline, a bad parameter, an unknown option value."""

    exit_code = 2


class SpecError(UsageError):
    """The pipeline file is not a valid, supported pipeline (YAML error, bad reference, cycle...)."""


class ParameterError(UsageError):
    """A pipeline parameter is missing, unknown, or of the wrong type."""


class RunNotFoundError(UsageError):
    """No run in the store matches the given run id."""


class BackendNotFoundError(UsageError):
    """No backend is registered under the given name."""


class StoreError(FlowError):
    """The run store cannot be opened or used: an unreachable server, a refused login, not a database."""
