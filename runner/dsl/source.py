"""Pipelines in Python files, for `flow compile pipeline.py` and `flow run pipeline.py`."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType

from runner.dsl.components import BaseComponent
from runner.dsl.errors import DefinitionError
from runner.dsl.pipeline import GraphComponent
from runner.errors import FlowError, UsageError


def import_file(path: str | Path) -> ModuleType:
    """Import a Python file as a fresh module (its folder importable while it loads)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError("no such file", str(path))
    name = f"_flow_pipeline_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError("cannot import this file as Python", str(path))
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module  # so that dataclasses and typing can find the module while it runs
    try:
        spec.loader.exec_module(module)
    except FlowError:
        raise
    except Exception as exc:
        raise UsageError(f"cannot import: {type(exc).__name__}: {exc}", str(path)) from exc
    finally:
        sys.path.remove(folder)
    return module


def find_pipeline(path: str | Path, function: str | None = None) -> BaseComponent:
    """The @pipeline of a Python file: the only one defined in it, or the one named `function` (which may
    also be a component, compiled alone)."""
    module = import_file(path)
    if function is not None:
        found = getattr(module, function, None)
        if not isinstance(found, BaseComponent):
            raise UsageError(f"{function!r} is not a @pipeline or a component in this file", str(path))
        return found
    pipelines = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, GraphComponent) and value.python_func.__module__ == module.__name__
    }
    if len(pipelines) == 1:
        return next(iter(pipelines.values()))
    if not pipelines:
        raise DefinitionError("defines no @pipeline function", str(path))
    names = ", ".join(sorted(pipelines))
    raise UsageError(f"defines several pipelines ({names}); choose one with --function", str(path))
