"""The command of a compiled Python component: the function's source and flow's executor, self-contained.

    command: [python3, -c, BOOTSTRAP, EXECUTOR_SOURCE, COMPONENT_SOURCE]
    args:    [--executor_input, "{{$}}", --function_to_execute, NAME]

The bootstrap loads the executor and the component code as modules (their lines show in tracebacks), then
hands the component module to the executor. With `packages_to_install`, `sh -c` runs pip first, as kfp does.
"""

from __future__ import annotations

import ast
import functools
import inspect
import shlex
import textwrap
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.dsl.errors import DefinitionError
from runner.executor import artifacts

_EXECUTOR_DIR = Path(__file__).resolve().parent.parent / "executor"
_SKIP_START, _SKIP_END = "# flow-embed: skip", "# flow-embed: end"
_FUTURE = "from __future__ import annotations\n"

# kfp.local's SubprocessRunner only runs commands that mention kfp's executor module; this one speaks the
# same protocol, and the comment says so.
BOOTSTRAP = """\
# flow component: the KFP executor protocol (as kfp.dsl.executor_main), run by flow's stdlib executor.
import linecache, sys, types


def load(name, source):
    path = name + ".py"
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(compile(source, path, "exec"), module.__dict__)
    return module


try:
    executor = load("flow_executor", sys.argv.pop(1))
    executor.run_module(load("ephemeral_component", sys.argv.pop(1)))
except Exception:
    import traceback

    traceback.print_exc()  # with the lines of the embedded code, which the default hook cannot show
    sys.exit(1)
"""


_PIP = (
    'if ! [ -x "$(command -v pip)" ]; then\n'
    "    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip\n"
    "fi\n"
    "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location {packages}"
    ' && exec python3 -c "$0" "$@"\n'
)


@functools.cache
def executor_source() -> str:
    """runner/executor's two modules as one module text (artifacts first), for embedding."""
    artifacts = (_EXECUTOR_DIR / "artifacts.py").read_text(encoding="utf-8")
    executor = (_EXECUTOR_DIR / "executor.py").read_text(encoding="utf-8")
    start, end = executor.index(_SKIP_START), executor.index(_SKIP_END)
    executor = executor[:start] + executor[executor.index("\n", end) + 1 :]
    return artifacts + "\n\n" + executor.replace(_FUTURE, "", 1)


def function_source(func: Callable[..., Any]) -> str:
    """The `def` of `func` without its decorators, dedented."""
    name = getattr(func, "__name__", repr(func))
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        raise DefinitionError(
            "cannot read the function's source; define components in a .py file", name
        ) from None
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.AsyncFunctionDef):
        raise DefinitionError("async functions cannot be components", name)
    if not isinstance(node, ast.FunctionDef):
        raise DefinitionError("a component must be a function defined with `def`", name)
    lines = source.splitlines(keepends=True)
    return "".join(lines[node.lineno - 1 : node.end_lineno])


def _return_class(func: Callable[..., Any], signature: dict[str, Any]) -> str:
    """A stand-in for a NamedTuple return class defined outside the function, so `return Stats(...)` works
    in the task, where only the function's own code exists."""
    if signature["returns"]["kind"] != "fields":
        return ""
    annotation = typing.get_type_hints(func).get("return")
    name = getattr(annotation, "__name__", "")
    if not name.isidentifier() or func.__globals__.get(name) is not annotation:
        return ""
    fields = list(signature["returns"]["outputs"])
    return f"{name} = __import__('collections').namedtuple({name!r}, {fields!r})\n"


def component_source(func: Callable[..., Any], signature: dict[str, Any]) -> str:
    """The module a task runs: names the component may use, its signature, and the function."""
    return (
        _FUTURE
        + "\nfrom typing import *\n\n"
        + f"from flow_executor import {', '.join(artifacts.COMPONENT_NAMES)}\n\n"
        + f"__flow_signature__ = {signature!r}\n"
        + _return_class(func, signature)
        + "\n\n"
        + function_source(func)
    )


def command_and_args(
    func: Callable[..., Any], signature: dict[str, Any], packages: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """The container command and args of a Python component."""
    sources = [BOOTSTRAP, executor_source(), component_source(func, signature)]
    args = ["--executor_input", "{{$}}", "--function_to_execute", func.__name__]
    if not packages:
        return ["python3", "-c", *sources], args
    script = _PIP.format(packages=" ".join(shlex.quote(p) for p in packages))
    return ["sh", "-c", script, *sources], args
