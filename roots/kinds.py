"""Which kind of root a recorded pipeline root is, and the root a new run keeps its artifacts in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from backends.base import PermanentBackendError
from roots.base import Root, TaskView
from roots.local.folder import FolderRoot
from roots.pvc import ClaimRoot
from roots.s3 import S3Root

if TYPE_CHECKING:
    from backends.base import Backend
    from roots.files import RootFiles

# The kinds written with a scheme; anything else is a folder of this machine.
_SCHEMES: dict[str, type[ClaimRoot] | type[S3Root]] = {ClaimRoot.scheme: ClaimRoot, S3Root.scheme: S3Root}


def parse(root: str) -> Root:
    """The root written `root` (as the store records it, or as a user asked for it); PermanentBackendError
    naming what is wrong with it."""
    scheme, separator, _ = root.partition("://")
    if not separator:
        return FolderRoot(Path(root))
    kind = _SCHEMES.get(f"{scheme}://")
    if kind is None:
        raise PermanentBackendError(
            f"a pipeline root is a folder, pvc://NAMESPACE/CLAIM or s3://BUCKET/PREFIX, not {root!r}"
        )
    return kind.parse(root)


def for_new_run(backend: Backend, requested: str | None, default: Path) -> str:
    """Where a new run on `backend` keeps its artifacts, as the store records it: the root requested, else
    the backend's default (`default`, a folder, for backends whose tasks see this machine's folders).
    PermanentBackendError when the backend cannot use it."""
    root = parse(requested or backend.default_root(default))
    backend.root_view(root)  # a kind of root the backend cannot use is refused here
    return root.made().uri


def view(backend: Backend, root: str) -> TaskView:
    """How `backend`'s tasks see the recorded root `root`, and the engine's access to its files."""
    return backend.root_view(parse(root))


def files(root: str, backend: Callable[[], Backend]) -> RootFiles:
    """The files of the recorded root `root`: read from this machine where its kind allows (a folder, an
    object store), else through the run's backend, which `backend()` gives."""
    parsed = parse(root)
    reached = parsed.files()
    return reached if reached is not None else backend().root_view(parsed).files()
