"""Packages that only some features need, which flow leaves to extras: `pip install 'flow-pipelines[k8s]'`."""

from __future__ import annotations

import importlib

DISTRIBUTION = "flow-pipelines"


def missing_extra(package: str, extra: str, feature: str) -> str | None:
    """None when `package` can be imported, else the line that says which extra brings it to `feature`."""
    try:
        importlib.import_module(package)
    except ImportError:
        return f"{feature} needs the {package} package: pip install '{DISTRIBUTION}[{extra}]'"
    return None
