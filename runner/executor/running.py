"""Running a compiled component's code in its task, and what its failure prints (standard library only).

flow's SDK embeds this file's text after executor.py. The component's code is a module whose function was
cut out of the user's file; `__flow_source__` in it names that file and the line of the `def`, so the
function is compiled under them and a traceback points where the user wrote the code. A failure prints the
traceback from the function's own frames on: the frames of this program, which only called it, are left out.
"""

from __future__ import annotations
import __future__

import ast
import linecache
import sys
import traceback
import types
from typing import TextIO

# flow-embed: skip (the embedded program defines these names above this module's text)
from runner.executor.executor import run_module

# flow-embed: end

COMPONENT_MODULE = "ephemeral_component"
SOURCE_NAME = "__flow_source__"
_BOOTSTRAP_FILE = "<string>"  # the `python3 -c` program that loaded this one


def run_source(source: str, argv: list[str] | None = None, stderr: TextIO | None = None) -> int:
    """Run the function `--function_to_execute` of a compiled component's code: 0 when it succeeded, 1
    after printing the traceback of the exception it raised."""
    try:
        run_module(load_component(source), argv)
    except Exception as exc:
        print_failure(exc, stderr if stderr is not None else sys.stderr)
        return 1
    return 0


def load_component(source: str) -> types.ModuleType:
    """The module of a component's code, its function compiled under the file and line `__flow_source__`
    names (the rest, which flow wrote, under `ephemeral_component.py`)."""
    path = COMPONENT_MODULE + ".py"
    module = types.ModuleType(COMPONENT_MODULE)
    module.__file__ = path
    sys.modules[COMPONENT_MODULE] = module
    _remember(path, source)
    tree = ast.parse(source, path)
    location = _location(tree)
    function = tree.body[-1] if tree.body else None
    if location is None or not isinstance(function, ast.FunctionDef):
        exec(compile(tree, path, "exec"), module.__dict__)
        return module
    file, line = location
    lines = source.splitlines(keepends=True)[function.lineno - 1 : function.end_lineno]
    _remember(file, "\n" * (line - 1) + "".join(lines))
    ast.increment_lineno(function, line - function.lineno)
    exec(compile(ast.Module(tree.body[:-1], []), path, "exec"), module.__dict__)
    flags = __future__.annotations.compiler_flag  # as the module's own `from __future__ import annotations`
    exec(compile(ast.Module([function], []), file, "exec", flags, dont_inherit=True), module.__dict__)
    return module


def _location(tree: ast.Module) -> tuple[str, int] | None:
    """(file, line) of `__flow_source__ = (file, line)` in the module, if it is there and well formed."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == [SOURCE_NAME]
            and isinstance(node.value, ast.Tuple)
        ):
            values = [getattr(e, "value", None) for e in node.value.elts]
            if len(values) == 2 and isinstance(values[0], str) and type(values[1]) is int and values[1] > 0:
                return values[0], values[1]
    return None


def _remember(path: str, text: str) -> None:
    # No modification time: linecache never checks these against a file of that name (there may be none).
    linecache.cache[path] = (len(text), None, text.splitlines(keepends=True), path)


def print_failure(exc: BaseException, stream: TextIO) -> None:
    """The traceback of `exc` from the first frame that is not this program's on; a whole one when the
    program raised it itself (no frame of the component's code)."""
    own = {__file__, run_module.__code__.co_filename, _BOOTSTRAP_FILE}
    frames = exc.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename in own:
        frames = frames.tb_next
    shown = frames if frames is not None else exc.__traceback__
    traceback.print_exception(type(exc), exc, shown, file=stream)
