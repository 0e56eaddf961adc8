"""The parent of one process-backend task: what a container's init is to its processes.

    python -I -S reaper.py GRACE COMMAND [ARG...]

It makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every process the task starts stays
its descendant, even one that calls setsid, clears its environment and whose parent exits (a daemon). It
runs COMMAND in its own working folder, environment and output, and waits for it. When COMMAND exits,
every process it left is killed; the reaper then exits as COMMAND did (the same code, or the same signal).
On SIGTERM (a cancel) it passes SIGTERM to every descendant, waits up to GRACE seconds for COMMAND to
exit, then kills what is left. The engine's wait4 on the reaper reports COMMAND's peak memory and CPU
time, as those of a waited-for child.

This file imports the standard library only: it starts in a fraction of the time the whole package takes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

_PR_SET_CHILD_SUBREAPER = 36
_EXEC_FAILED = 127  # a shell's code for a command it could not run
# How long it sleeps at most between looks for exited children, should a SIGCHLD be missed.
_IDLE_SECONDS = 1.0


def descendants(ancestor: int) -> list[int]:
    """Every live process below `ancestor` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:  # it exited while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    pending = [ancestor]
    while pending:
        below = children.get(pending.pop(), [])
        found.extend(below)
        pending.extend(below)
    return found


def signal_all(sig: int) -> None:
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):  # it exited meanwhile
            os.kill(pid, sig)


def kill_and_reap_all() -> None:
    """SIGKILL every descendant and reap them, until none is left (one forking meanwhile included)."""
    while True:
        signal_all(signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main(grace: float, argv: list[str]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write(f"flow: cannot become a subreaper: {os.strerror(ctypes.get_errno())}\n")
        return _EXEC_FAILED
    # Both are taken with sigtimedwait rather than by handlers, so that no wait is ever interrupted.
    waited_for = {signal.SIGTERM, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited_for)
    try:
        command = os.posix_spawnp(argv[0], argv, os.environ, setsigmask=())
    except OSError as exc:
        sys.stderr.write(f"flow: cannot start {argv[0]!r}: {exc.strerror}\n")
        return _EXEC_FAILED
    status = None
    deadline = None  # set by a cancel: when what is left of the task is killed
    while True:
        status = status if status is not None else reap_orphans(command)
        if status is not None:
            break
        if deadline is not None and time.monotonic() >= deadline:
            signal_all(signal.SIGKILL)
        timeout = max(0.0, deadline - time.monotonic()) if deadline is not None else _IDLE_SECONDS
        got = signal.sigtimedwait(waited_for, timeout)
        if got is not None and got.si_signo == signal.SIGTERM and deadline is None:
            signal_all(signal.SIGTERM)
            deadline = time.monotonic() + grace
    kill_and_reap_all()
    if os.WIFSIGNALED(status):  # end as the command did
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:  # the one signal without a handler to reset
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
    return os.waitstatus_to_exitcode(status)


def reap_orphans(command: int) -> int | None:
    """Reap every child that exited; the command's wait status once it is among them."""
    status = None
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == command:
            status = code


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main(float(sys.argv[1]), sys.argv[2:]))
