"""The command of a compiled Python component: the function's source and flow's executor, self-contained.

    command: [python3, -c, BOOTSTRAP, EXECUTOR_SOURCE, COMPONENT_SOURCE]
    args:    [--executor_input, "{{$}}", --function_to_execute, NAME]

The bootstrap loads the executor as a module (its lines show in tracebacks), which loads the component code
and runs it. The code names the function's file and `def` line (`__flow_source__`), so a task's traceback
points into the user's file; the file is named as its module's import path names it (`pipeline.py`,
`components/train.py`), the same on every machine, so a compiled pipeline does not depend on where its source
lay. With `packages_to_install`, `sh -c` runs pip first, as kfp does.
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
from runner.executor import artifacts, running

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
except Exception:
    import traceback

    traceback.print_exc()  # with the lines of the embedded code, which the default hook cannot show
    sys.exit(1)
sys.exit(executor.run_source(sys.argv.pop(1)))
"""


_PIP = (
    'if ! [ -x "$(command -v pip)" ]; then\n'
    "    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip\n"
    "fi\n"
    "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location {packages}"
    ' && exec python3 -c "$0" "$@"\n'
)


_EMBEDDED = ("artifacts.py", "executor.py", "running.py")  # in this order: each uses names of those before


@functools.cache
def executor_source() -> str:
    """runner/executor's modules as one module text, for embedding."""
    texts = [(_EXECUTOR_DIR / name).read_text(encoding="utf-8") for name in _EMBEDDED]
    return "\n\n".join([texts[0], *(_embedded_part(text) for text in texts[1:])])


def _embedded_part(text: str) -> str:
    """A module's text without its imports of the modules embedded before it, nor its `__future__` import."""
    start, end = text.index(_SKIP_START), text.index(_SKIP_END)
    return (text[:start] + text[text.index("\n", end) + 1 :]).replace(_FUTURE, "", 1)


def function_source(func: Callable[..., Any]) -> tuple[str, int]:
    """The `def` of `func` without its decorators, dedented, and the line of its file where the `def` is."""
    name = getattr(func, "__name__", repr(func))
    try:
        found, first_line = inspect.getsourcelines(func)
    except (OSError, TypeError):
        raise DefinitionError(
            "cannot read the function's source; define components in a .py file", name
        ) from None
    source = textwrap.dedent("".join(found))
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.AsyncFunctionDef):
        raise DefinitionError("async functions cannot be components", name)
    if not isinstance(node, ast.FunctionDef):
        raise DefinitionError("a component must be a function defined with `def`", name)
    lines = source.splitlines(keepends=True)
    return "".join(lines[node.lineno - 1 : node.end_lineno]), first_line + node.lineno - 1


def source_file(func: Callable[..., Any]) -> str:
    """The file of `func` as its module's import path names it (`components/train.py`), else its name alone
    (a file flow imported to find its pipeline): never where it lies on this machine."""
    path = Path(inspect.getsourcefile(func) or func.__code__.co_filename)
    module = getattr(func, "__module__", "") or ""
    parts = module.split(".")
    for tail in (parts, [*parts, "__init__"]):
        relative = Path(*tail).with_suffix(".py") if tail else None
        if module and relative is not None and path.parts[-len(relative.parts) :] == relative.parts:
            return relative.as_posix()
    return path.name


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
    """The module a task runs: names the component may use, its signature, where the function comes from,
    and the function (last: the executor compiles it under its own file and line)."""
    code, line = function_source(func)
    return (
        _FUTURE
        + "\nfrom typing import *\n\n"
        + f"from flow_executor import {', '.join(artifacts.COMPONENT_NAMES)}\n\n"
        + f"__flow_signature__ = {signature!r}\n"
        + f"{running.SOURCE_NAME} = {(source_file(func), line)!r}\n"
        + _return_class(func, signature)
        + "\n\n"
        + code
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
