"""Errors in a pipeline or component definition, raised while it is being defined or compiled."""

from __future__ import annotations

from runner.errors import UsageError


class DefinitionError(UsageError):
    """A component or pipeline definition is wrong; the message names the function and the parameter."""
