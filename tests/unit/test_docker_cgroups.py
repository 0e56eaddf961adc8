"""Which daemons' cgroups flow reads, and how it reads a task's figures on cgroup v1 and v2, from folders laid
out as the kernel's. (This machine runs cgroup v1: tests/integration/test_docker_exits.py reads the real
ones.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.local.cgroups import TaskCgroups

CGROUPFS_V1 = {"CgroupDriver": "cgroupfs", "CgroupVersion": "1", "SecurityOptions": ["name=seccomp"]}
CGROUPFS_V2 = {**CGROUPFS_V1, "CgroupVersion": "2"}


def v1_mount(tmp_path: Path) -> Path:
    for controller in ("memory", "cpuacct", "pids"):
        (tmp_path / controller).mkdir()
    return tmp_path


def test_v1_figures_are_the_task_parent_s_and_it_is_removed_in_every_hierarchy(tmp_path: Path) -> None:
    cgroups = TaskCgroups.of(CGROUPFS_V1, v1_mount(tmp_path))
    assert cgroups is not None and cgroups.parent("flow-r-t-1") == "/flow/flow-r-t-1"
    for controller in ("memory", "cpuacct", "pids"):
        (tmp_path / controller / "flow" / "flow-r-t-1").mkdir(parents=True)
    (tmp_path / "memory/flow/flow-r-t-1/memory.max_usage_in_bytes").write_text("4325376\n")
    (tmp_path / "cpuacct/flow/flow-r-t-1/cpuacct.usage").write_text("27123903\n")
    assert cgroups.exists("flow-r-t-1") and not cgroups.exists("flow-r-t-2")
    usage = cgroups.usage("flow-r-t-1")
    assert usage.peak_memory_bytes == 4325376 and usage.cpu_seconds == pytest.approx(0.027123903)
    for kernel_file in (
        "memory/flow/flow-r-t-1/memory.max_usage_in_bytes",
        "cpuacct/flow/flow-r-t-1/cpuacct.usage",
    ):
        (tmp_path / kernel_file).unlink()  # a cgroup's files go with it; a plain folder needs them gone first
    cgroups.release("flow-r-t-1")
    assert not list(tmp_path.glob("*/flow/flow-r-t-1"))


def test_v2_figures_come_from_memory_peak_and_cpu_stat(tmp_path: Path) -> None:
    cgroups = TaskCgroups.of(CGROUPFS_V2, tmp_path)
    assert cgroups is not None
    task = tmp_path / "flow" / "flow-r-t-1"
    task.mkdir(parents=True)
    (task / "memory.peak").write_text("8388608\n")
    (task / "cpu.stat").write_text("usage_usec 15000\nuser_usec 10000\nsystem_usec 5000\n")
    usage = cgroups.usage("flow-r-t-1")
    assert usage.peak_memory_bytes == 8388608 and usage.cpu_seconds == pytest.approx(0.015)


def test_figures_the_kernel_does_not_give_are_none(tmp_path: Path) -> None:
    """A kernel before 5.19 has no memory.peak on cgroup v2."""
    cgroups = TaskCgroups.of(CGROUPFS_V2, tmp_path)
    assert cgroups is not None
    (tmp_path / "flow" / "flow-r-t-1").mkdir(parents=True)
    usage = cgroups.usage("flow-r-t-1")
    assert usage.peak_memory_bytes is None and usage.cpu_seconds is None


def test_release_all_removes_one_run_s_task_cgroups_only(tmp_path: Path) -> None:
    cgroups = TaskCgroups.of(CGROUPFS_V1, v1_mount(tmp_path))
    assert cgroups is not None
    for name in ("flow-run1-a-1", "flow-run1-b-1", "flow-run2-a-1"):
        for controller in ("memory", "pids"):
            (tmp_path / controller / "flow" / name).mkdir(parents=True)
    cgroups.release_all("flow-run1-")
    assert sorted(p.name for p in tmp_path.glob("*/flow/*")) == ["flow-run2-a-1", "flow-run2-a-1"]


@pytest.mark.parametrize(
    "info",
    [
        {**CGROUPFS_V2, "CgroupDriver": "systemd"},  # systemd removes a slice once empty: nothing would last
        {**CGROUPFS_V2, "SecurityOptions": ["name=seccomp", "name=rootless"]},
        {},  # a daemon too old to say
    ],
)
def test_daemons_whose_cgroups_flow_cannot_keep_are_sampled_instead(
    info: dict[str, object], tmp_path: Path
) -> None:
    assert TaskCgroups.of(info, tmp_path) is None


def test_cgroups_that_are_not_on_this_machine_are_sampled_instead(tmp_path: Path) -> None:
    """A daemon elsewhere: this machine has no such hierarchy."""
    assert TaskCgroups.of(CGROUPFS_V1, tmp_path / "none") is None
