"""Virtual environments for process tasks that install packages: flow's own environment is never changed.

A task whose shell script runs `pip install` (kfp's lightweight components, `packages_to_install`) runs in
a virtual environment built once per list of install steps, at $FLOW_HOME/venvs/<digest>, and reused. The
venv sees flow's own site-packages after its own (a .pth file), so what flow's environment already has
(kfp, say) needs no download, and what a task installs, upgrades or downgrades lands in the venv only.

While its venv is not built, such a task starts as `python .../venvs.py FOLDER STEPS -- COMMAND...`:
that process builds the venv under an exclusive lock (tasks never build the same venv at once), keeps a
shared lock on it for the task's whole life (pruning never removes a venv in use), then execs the command
with the venv first on PATH. Once it is built, the backend takes the shared lock and starts the command in
it directly. The task's own pip step then finds everything installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NoReturn

READY = ".flow-ready"  # written last: a venv without it is an interrupted build
ERROR_FILE = ".flow-install-error"  # in the task's working folder: the one line saying what failed
UNUSED_DAYS = 14  # a venv no task used for this long is removed when another one is built
_SHELLS = {"sh", "bash", "dash", "zsh"}
_SHELL_SCRIPT_FLAG = re.compile(r"-[a-z]*c")
_PIP = re.compile(r"pip(3(\.\d+)?)?")
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_CONTROL = {"&&", "||", ";", "|", "&", ";;", "(", ")"}
_FORMAT = 1  # part of every venv's digest: a change of how venvs are built makes new ones


class InstallError(Exception):
    """The venv of a task could not be made; the message is one line."""


def venvs_folder() -> Path:
    """$FLOW_HOME/venvs: the folder runner.layout.flow_home names (a backend imports nothing of runner)."""
    import platformdirs  # here: the task's wrapper, which imports this file, never needs it

    home = os.environ.get("FLOW_HOME") or platformdirs.user_data_dir("flow")
    return Path(home) / "venvs"


def install_steps(argv: Sequence[str]) -> list[list[str]]:
    """The arguments of each `pip install` in the shell scripts of a command (`sh -c SCRIPT`), in order."""
    steps: list[list[str]] = []
    for i in range(1, len(argv) - 1):
        if os.path.basename(argv[i - 1]) in _SHELLS and _SHELL_SCRIPT_FLAG.fullmatch(argv[i]):
            for line in argv[i + 1].splitlines():
                steps.extend(_line_steps(line))
    return steps


def _line_steps(line: str) -> list[list[str]]:
    """The pip installs of one line: `pip install ARGS` or `python -m pip install ARGS` as a command (not
    an echo's words), up to the next control operator."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # a quote that spans lines: not a line of commands
        return []
    steps = []
    start = 0
    while start < len(tokens):
        end = next((j for j in range(start, len(tokens)) if tokens[j] in _CONTROL), len(tokens))
        words = tokens[start:end]
        while words and (_ASSIGNMENT.match(words[0]) or words[0] == "exec"):
            words = words[1:]
        names = [os.path.basename(word) for word in words[:4]]
        if _PYTHON.fullmatch(names[0] if names else "") and names[1:2] == ["-m"]:
            names, words = names[2:], words[2:]  # python -m pip install: as pip install
        if len(names) >= 2 and _PIP.fullmatch(names[0]) and names[1] == "install":
            steps.append(words[2:])
        start = end + 1
    return steps


@dataclass
class Launch:
    """How a task starts: its command and environment, and a file descriptor holding a shared lock on its
    venv that the task's process inherits (the starter closes its own copy once the process runs)."""

    argv: list[str]
    env: dict[str, str]
    lock: int | None = None


def launch(argv: list[str], folder: Path, env: dict[str, str]) -> Launch:
    """A task's start: unchanged when it installs nothing; straight into its venv when that is built (the
    engine then spares a Python start per task); else through this file, which builds it first."""
    steps = install_steps(argv)
    if not steps:
        return Launch(argv, env)
    home = folder / digest(steps)
    lock = _hold_if_ready(folder, home)
    if lock is not None:
        return Launch(argv, venv_environment(home, env), lock)
    # Run as a file, not with -m: the package's own imports need not load before each such task.
    wrapper = [sys.executable, os.path.abspath(__file__), str(folder), json.dumps(steps), "--", *argv]
    return Launch(wrapper, env)


def _hold_if_ready(folder: Path, home: Path) -> int | None:
    """A shared lock on a built venv, or None (not built, being built, or a folder the wrapper refuses)."""
    if not (home / READY).exists():
        return None
    try:
        _own_folder(folder)
    except InstallError:
        return None  # the wrapper says why
    lock = os.open(folder / f"{home.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        os.utime(home / READY)  # its last use, for pruning; it is not pruned while held
    except OSError:  # being built, or pruned meanwhile
        os.close(lock)
        return None
    return lock


def venv_environment(home: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with the venv first on PATH, as its activation would have it."""
    path = os.pathsep.join([str(home / "bin"), env.get("PATH", os.defpath)])
    return {**env, "VIRTUAL_ENV": str(home), "PATH": path}


def digest(steps: list[list[str]]) -> str:
    """Names a venv: the install steps, and flow's interpreter and site-packages it is layered on."""
    identity = {
        "format": _FORMAT,
        "python": [os.path.realpath(sys.executable), sys.version],
        "base": base_site_packages(),
        "steps": steps,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def base_site_packages() -> list[str]:
    """What flow's interpreter imports packages from: its site-packages, and the user's when it reads them
    (a venv would not: kfp installed with `pip install --user` is seen too)."""
    user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    return [*site.getsitepackages(), *user]


def prepare(folder: Path, steps: list[list[str]]) -> Path:
    """The venv for `steps`, built if need be; the caller holds a shared lock on it from then on (the lock's
    file descriptor is inheritable, so the task that is exec'd keeps it)."""
    _own_folder(folder)
    home = folder / digest(steps)
    lock = os.open(folder / f"{home.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    ready = home / READY
    if not ready.exists():
        shutil.rmtree(home, ignore_errors=True)  # what an interrupted build left
        _build(home, steps)
        ready.write_text(json.dumps(steps), encoding="utf-8")
        print(f"flow: built the task's virtual environment {home}", flush=True)
        prune(folder, time.time() - UNUSED_DAYS * 86400)
    os.utime(ready)  # its last use, for pruning
    fcntl.flock(lock, fcntl.LOCK_SH)
    os.set_inheritable(lock, True)
    return home


def _own_folder(folder: Path) -> None:
    """Create the venvs' folder private to this user; refuse one that another user could write into (they
    could put code in every later task)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise InstallError(f"refusing {folder} for task environments: not a folder of this user's alone")


def _build(home: Path, steps: list[list[str]]) -> None:
    import venv  # here: most tasks find their venv built

    has_pip = find_spec("pip") is not None
    # Without pip of its own when flow's environment has one: the venv imports it from there (fast, offline).
    venv.EnvBuilder(symlinks=True, with_pip=not has_pip).create(home)
    paths = {"base": str(home), "platbase": str(home)}
    site_packages = Path(sysconfig.get_path("purelib", scheme="venv", vars=paths))
    # addsitedir, not a plain path: the .pth files of flow's environment (editable installs) apply too.
    layers = "".join(f"import site; site.addsitedir({p!r})\n" for p in base_site_packages())
    (site_packages / "_flow_base_environment.pth").write_text(layers, encoding="utf-8")
    if has_pip:  # `pip install` in a task's script must reach the venv, not flow's pip on PATH
        for name in ("pip", "pip3", f"pip{sys.version_info.major}.{sys.version_info.minor}"):
            shim = home / "bin" / name
            shim.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n', encoding="utf-8")
            shim.chmod(0o700)
    python = str(home / "bin" / "python")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for step in steps:
        if satisfied(step):  # pip would find it all installed: spare its seconds
            continue
        done = subprocess.run(
            [python, "-m", "pip", "install", *step], env=env, capture_output=True, text=True, check=False
        )
        sys.stdout.write(done.stdout + done.stderr)  # into the task's log
        if done.returncode != 0:
            shutil.rmtree(home, ignore_errors=True)
            raise InstallError(_failure(done.stderr, step))


# Options of `pip install` that change nothing of what an install of satisfied requirements does.
_HARMLESS_FLAGS = {"-q", "--quiet", "--no-warn-script-location", "--no-deps", "--no-cache-dir"}
_HARMLESS_WITH_VALUE = {"-i", "--index-url", "--extra-index-url", "--trusted-host", "-f", "--find-links"}


def satisfied(step: list[str]) -> bool:
    """Whether flow's environment has every requirement of a pip step (and, without --no-deps, what they
    require), so that pip would install nothing. Anything not understood here says no: pip then decides."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        return False
    wanted: list[Requirement] = []
    args = iter(step)
    for arg in args:
        if arg in _HARMLESS_WITH_VALUE:
            next(args, None)
        elif arg.startswith("-"):
            if arg not in _HARMLESS_FLAGS:
                return False
        else:
            try:
                wanted.append(Requirement(arg))
            except InvalidRequirement:
                return False
    return _installed(wanted, with_dependencies="--no-deps" not in step, seen=set())


def _installed(wanted: list[Any], with_dependencies: bool, seen: set[str]) -> bool:
    from packaging.requirements import InvalidRequirement, Requirement

    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if requirement.url or requirement.extras:
            return False
        try:
            found = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            return False
        if not requirement.specifier.contains(found.version, prereleases=True):
            return False
        if with_dependencies and requirement.name.lower() not in seen:
            seen.add(requirement.name.lower())
            try:
                needs = [Requirement(text) for text in found.requires or []]
            except InvalidRequirement:
                return False
            if not _installed(needs, with_dependencies, seen):
                return False
    return True


def _failure(stderr: str, step: list[str]) -> str:
    missing = re.findall(r"No matching distribution found for (.+)", stderr)
    if missing:
        return f"cannot install {missing[-1].strip()} for the task: no such package or version reachable"
    errors = [line.strip() for line in stderr.splitlines() if line.startswith("ERROR:")]
    reason = errors[-1].removeprefix("ERROR:").strip() if errors else "pip failed"
    return f"cannot install {' '.join(shlex.quote(s) for s in step)} for the task: {reason}"


def prune(folder: Path, unused_since: float) -> None:
    """Remove the venvs last used before `unused_since` that no task holds."""
    for ready in folder.glob(f"*/{READY}"):
        home = ready.parent
        lock = os.open(folder / f"{home.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if ready.stat().st_mtime < unused_since:
                    shutil.rmtree(home, ignore_errors=True)
        finally:
            os.close(lock)  # the lock files stay: one removed under a waiting task would split the lock


def main(argv: list[str]) -> None:
    folder, steps, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: venvs.py FOLDER STEPS -- COMMAND...")
    try:
        home = prepare(Path(folder), json.loads(steps))
    except InstallError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot make the task's venv: {exc}")
    env = venv_environment(home, dict(os.environ))
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        _fail(f"cannot start {command[0]!r}: {exc.strerror}")


def _fail(message: str) -> NoReturn:
    """End the task with one line saying why: in its log, and in a file the backend reports it from."""
    Path(ERROR_FILE).write_text(message, encoding="utf-8")
    print(f"flow: {message}", file=sys.stderr)
    raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
