"""The views one backend made of pipeline roots: one per root, and the one each run it prepared uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from roots.base import Root, TaskView
from roots.kinds import parse

if TYPE_CHECKING:
    from backends.base import RunInfo, TaskSpec


class RootViews:
    def __init__(self, see: Callable[[Root], TaskView]) -> None:
        """`see`: how the backend's tasks see a root (one of Root.on_host, in_containers, in_pods)."""
        self._see = see
        self._by_root: dict[str, TaskView] = {}
        self._by_run: dict[str, TaskView] = {}

    def of(self, root: Root) -> TaskView:
        """The view of `root`, made once."""
        if root.uri not in self._by_root:
            self._by_root[root.uri] = self._see(root)
        return self._by_root[root.uri]

    def prepare(self, run: RunInfo) -> None:
        """Make what the run's tasks need of its root, and keep its view for them (`of_run`)."""
        view = self._by_run[run.run_id] = self.of(parse(run.root))
        view.prepare()

    def of_run(self, run_id: str) -> TaskView:
        """The view of a prepared run's root."""
        return self._by_run[run_id]

    def release(self, task: TaskSpec) -> None:
        """What was staged for `task` alone goes, while its run is prepared (else its cleanup did that)."""
        view = self._by_run.get(task.run_id)
        if view is not None:
            view.release(task)

    def cleanup(self, run: RunInfo) -> None:
        """The run ended: what was staged for it goes."""
        view = self._by_run.pop(run.run_id, None) or self.of(parse(run.root))
        view.cleanup(run.run_id)

    def close(self) -> None:
        for view in self._by_root.values():
            view.close()
