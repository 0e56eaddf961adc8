"""Peak memory and CPU time of a task's container, read from a cgroup of this machine that outlives it.

Docker removes a container's own cgroup when it exits, before it reports the exit, and its stats of a
stopped container are empty: a task shorter than a stats sample would have no figures. So each container is
created under a parent cgroup of its own (Docker's `cgroup_parent`), which the kernel charges with
everything charged to its child and which stays until flow removes it: the parent's figures, read once the
container exited, are the task's, however short it was.

This works where the daemon's cgroups are this machine's (`cgroupfs` driver, cgroup v1 or v2) and flow may
remove them (as root); elsewhere (the systemd driver, a rootless or remote daemon) `TaskCgroups.of` finds
none to use and the backend samples Docker's stats instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CGROUP_MOUNT = Path("/sys/fs/cgroup")
# Under each hierarchy: one folder of flow's, one folder per task in it, Docker's container folder in that.
_PARENT = "flow"


@dataclass(frozen=True)
class Usage:
    peak_memory_bytes: int | None
    cpu_seconds: float | None


class TaskCgroups:
    """The parent cgroups of flow's containers, one per task (by its container name)."""

    def __init__(self, mount: Path, unified: bool) -> None:
        self.mount, self.unified = mount, unified

    @classmethod
    def of(cls, info: Mapping[str, Any], mount: Path = CGROUP_MOUNT) -> TaskCgroups | None:
        """The task cgroups for a daemon that `docker info` describes as `info`; None where flow cannot
        read and remove its containers' cgroups from this machine."""
        if info.get("CgroupDriver") != "cgroupfs" or any(
            "rootless" in option for option in info.get("SecurityOptions") or ()
        ):
            return None
        unified = str(info.get("CgroupVersion") or "1") == "2"
        needed = [mount] if unified else [mount / "memory", mount / "cpuacct"]
        if not all(path.is_dir() and os.access(path, os.W_OK) for path in needed):
            return None
        return cls(mount, unified)

    @staticmethod
    def parent(name: str) -> str:
        """The `cgroup_parent` of the container of the task `name`."""
        return f"/{_PARENT}/{name}"

    def exists(self, name: str) -> bool:
        """Whether the task's parent cgroup is on this machine: Docker made it when it started the
        container here (a daemon elsewhere makes it on its own machine)."""
        return (self._folder("memory") / name).is_dir()

    def usage(self, name: str) -> Usage:
        """The task's peak memory (page cache included, as Docker's stats count it) and CPU time, all its
        container used: call once it exited."""
        if self.unified:
            folder = self._folder("") / name
            peak = _number(folder / "memory.peak")
            cpu_us = _field(folder / "cpu.stat", "usage_usec")
            return Usage(peak or None, cpu_us / 1e6 if cpu_us else None)
        peak = _number(self._folder("memory") / name / "memory.max_usage_in_bytes")
        cpu_ns = _number(self._folder("cpuacct") / name / "cpuacct.usage")
        return Usage(peak or None, cpu_ns / 1e9 if cpu_ns else None)

    def release(self, name: str) -> None:
        """Remove the task's parent cgroups, in every hierarchy, once its container exited; one that is
        still in use (its container still runs) stays."""
        for folder in self._task_folders(name):
            with contextlib.suppress(OSError):
                folder.rmdir()

    def release_all(self, prefix: str) -> None:
        """Remove the parent cgroups of every task whose name starts with `prefix` (a run's) that no
        container uses any more."""
        names = {task.name for parent in self._parents() for task in _children(parent)}
        for name in names:
            if name.startswith(prefix):
                self.release(name)

    def _folder(self, controller: str) -> Path:
        return self.mount / _PARENT if self.unified else self.mount / controller / _PARENT

    def _parents(self) -> Iterator[Path]:
        """flow's folder in each hierarchy (on cgroup v1, Docker makes it in every one it joins)."""
        if self.unified:
            yield self.mount / _PARENT
            return
        seen: set[Path] = set()
        for hierarchy in _children(self.mount):
            folder = hierarchy.resolve() / _PARENT
            if folder not in seen and folder.is_dir():
                seen.add(folder)
                yield folder

    def _task_folders(self, name: str) -> Iterator[Path]:
        for parent in self._parents():
            folder = parent / name
            if folder.is_dir():
                yield folder


def _children(folder: Path) -> list[Path]:
    try:
        return [entry for entry in folder.iterdir() if entry.is_dir()]
    except OSError:
        return []


def _number(path: Path) -> int:
    """The integer a cgroup file holds; 0 when it cannot be read."""
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _field(path: Path, key: str) -> int:
    """One `key value` line's value in a cgroup v2 file such as cpu.stat; 0 when it is not there."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0
