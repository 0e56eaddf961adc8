"""flow's own errors: each renders as one line naming the problem and where it is."""

from __future__ import annotations


class FlowError(Exception):
    """Base of every error flow reports to users; `str()` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


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
