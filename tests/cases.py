"""A unit test module's cases collected again by an integration module, where a fixture of the same name
stands for a service (the store on PostgreSQL, the pipeline root on S3): one set of cases, the unit tests
keeping the implementation that needs no service."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any


def cases_taking(module: ModuleType, fixture: str) -> dict[str, Any]:
    """The test functions of `module` that take `fixture`, by name, for a test module's globals."""
    return {
        name: case
        for name, case in vars(module).items()
        if name.startswith("test_")
        and inspect.isfunction(case)
        and fixture in inspect.signature(case).parameters
    }
