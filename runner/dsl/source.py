"""Pipelines written in Python, flow's SDK or kfp's: found in a file, and compiled to IR text.

Every entry point (`flow run` and `flow compile`, `runner.run`, the pytest fixtures, the UI's start form)
comes here for a Python file or a pipeline object. A kfp pipeline is compiled by kfp's own compiler.

Which pipeline of a file, as `kfp dsl compile` decides: the one pipeline the file defines, else its one
component (compiled as a pipeline of one task); several are an error asking for `--function`. Unlike kfp,
pipelines the file imports from elsewhere (to call them as sub-pipelines) do not count.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from runner.dsl.components import BaseComponent
from runner.dsl.errors import DefinitionError
from runner.dsl.pipeline import GraphComponent
from runner.errors import FlowError, UsageError

_CHOOSE = "name one with --function (function= in Python)"


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
    except ModuleNotFoundError as exc:
        raise UsageError(_missing_module(exc), str(path)) from exc
    except Exception as exc:
        raise UsageError(f"cannot import: {type(exc).__name__}: {exc}", str(path)) from exc
    finally:
        sys.path.remove(folder)
    return module


def _missing_module(exc: ModuleNotFoundError) -> str:
    name = exc.name or ""
    if name.startswith("kfp.kubernetes"):
        return "uses kfp-kubernetes, which is not installed here: pip install kfp-kubernetes"
    if name == "kfp" or name.startswith("kfp."):
        return "defines a kfp pipeline; compiling it needs kfp, which is not installed here: pip install kfp"
    return f"cannot import: ModuleNotFoundError: {exc}"


def kfp_component(value: Any) -> bool:
    """Whether `value` is a kfp pipeline or component (without importing kfp where nothing did)."""
    if sys.modules.get("kfp") is None:  # kfp never imported (or blocked): nothing can be of it
        return False
    from kfp.dsl import base_component

    return isinstance(value, base_component.BaseComponent)


def _kfp_pipeline(value: Any) -> bool:
    from kfp.dsl import graph_component

    return isinstance(value, graph_component.GraphComponent)


def is_pipeline_object(value: Any) -> bool:
    """A flow @pipeline or component, or a kfp one: what `compile_object` takes."""
    return isinstance(value, BaseComponent) or kfp_component(value)


def _defined_in(value: Any, module: ModuleType) -> bool:
    func = getattr(value, "python_func", None) or getattr(value, "pipeline_func", None)
    return getattr(func, "__module__", None) == module.__name__


def find_pipeline(path: str | Path, function: str | None = None) -> Any:
    """The pipeline of a Python file (a flow or kfp object): the one named `function` (a pipeline or a
    component), else as the module docstring says."""
    module = import_file(path)
    if function is not None:
        found = getattr(module, function, None)
        if not is_pipeline_object(found):
            raise UsageError(f"{function!r} is not a pipeline or a component in this file", str(path))
        return found
    pipelines: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for name, value in vars(module).items():
        if is_pipeline_object(value) and _defined_in(value, module):
            graph = isinstance(value, GraphComponent) or (kfp_component(value) and _kfp_pipeline(value))
            (pipelines if graph else components)[name] = value
    if len(pipelines) == 1:
        return next(iter(pipelines.values()))
    if not pipelines and len(components) == 1:
        return next(iter(components.values()))
    if len(pipelines) > 1:
        raise UsageError(f"defines several pipelines ({', '.join(sorted(pipelines))}); {_CHOOSE}", str(path))
    if components:
        names = ", ".join(sorted(components))
        raise UsageError(f"defines no pipeline and several components ({names}); {_CHOOSE}", str(path))
    raise DefinitionError("defines no pipeline (kfp's @dsl.pipeline or flow's @pipeline)", str(path))


def compile_object(value: Any) -> str:
    """The IR YAML of a flow or kfp pipeline or component: flow's compiler for flow's, kfp's for kfp's."""
    if isinstance(value, BaseComponent):
        from runner.dsl.ir import compile_to_text

        return compile_to_text(value)
    if kfp_component(value):
        return _kfp_compiled(value)
    raise UsageError(
        f"not a pipeline: {type(value).__name__} (give a file, IR text, or a flow or kfp pipeline)"
    )


def _kfp_compiled(component: Any) -> str:
    from kfp import compiler

    name = str(getattr(component, "name", "pipeline"))
    with tempfile.TemporaryDirectory(prefix="flow-kfp-") as folder:
        target = Path(folder, "pipeline.yaml")
        try:
            compiler.Compiler().compile(component, str(target))
        except Exception as exc:  # kfp raises ValueError, TypeError and its own errors alike
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise UsageError(f"kfp cannot compile it: {message}", name) from exc
        return target.read_text(encoding="utf-8")


def compile_file(path: str | Path, function: str | None = None) -> str:
    """The IR YAML of the pipeline a Python file defines (see `find_pipeline`)."""
    return compile_object(find_pipeline(path, function))
