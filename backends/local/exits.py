"""Which of flow's containers exited, learnt from one stream of the daemon's events for all of them.

One connection tells every exit, where a wait per container would hold one each. What the stream could
not have told (it was not connected yet, it broke, the daemon restarted) the backend asks Docker about
directly: `epoch` changes at every (re)connection, and is None while there is no stream.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker

# The daemon may subscribe a moment after it answered the request: each connection asks for the events
# since a little before it was made, so that an exit in between is replayed rather than missed.
_REPLAY_SECONDS = 2.0
_RECONNECT_SECONDS = 0.5
_FIRST_CONNECTION_SECONDS = 5.0


class ExitWatcher:
    """Follows the `die` events of containers labelled `label` in a daemon thread, for the containers it
    was asked to `watch`, until `close`."""

    def __init__(self, api: docker.APIClient, label: str, on_exit: Callable[[], None]) -> None:
        self._api, self._on_exit = api, on_exit
        self._filters = {"type": "container", "event": "die", "label": label}
        self._lock = threading.Lock()
        self._watched: set[str] = set()
        self._exited: dict[str, int | None] = {}  # container id: its exit code, where the event gave it
        self._epoch: int | None = None
        self._connections = 0
        self._stream: Any = None
        self._closed = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flow-docker-exits", daemon=True)
        self._thread.start()
        self._connected.wait(_FIRST_CONNECTION_SECONDS)

    @property
    def epoch(self) -> int | None:
        """Which connection of the stream is up; None while none is. A container seen running during an
        epoch has not exited for as long as `exited` does not say so in the same epoch."""
        return self._epoch

    def watch(self, container_id: str) -> None:
        """Note the exit of this container, created and not yet started."""
        with self._lock:
            self._watched.add(container_id)

    def exited(self, container_id: str) -> bool:
        with self._lock:
            return container_id in self._exited

    def exit_code(self, container_id: str) -> int | None:
        """The exit code the container's `die` event gave; None before it, or when it gave none."""
        with self._lock:
            return self._exited.get(container_id)

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._watched.discard(container_id)
            self._exited.pop(container_id, None)

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _run(self) -> None:
        while not self._closed.is_set():
            since = f"{time.time() - _REPLAY_SECONDS:.9f}"
            # Any error ends this connection: the daemon is gone or restarting; the next one replays.
            with contextlib.suppress(Exception):
                self._stream = self._api.events(since=since, filters=self._filters, decode=True)
                self._connections += 1
                self._epoch = self._connections
                self._connected.set()
                self._on_exit()  # what exited while no stream was up is asked about now
                for event in self._stream:
                    self._note(event)
            self._epoch = None
            self._on_exit()
            self._closed.wait(_RECONNECT_SECONDS)

    def _note(self, event: dict[str, Any]) -> None:
        actor = event.get("Actor") or {}
        container_id = event.get("id") or actor.get("ID")
        code = str((actor.get("Attributes") or {}).get("exitCode", ""))
        with self._lock:
            if container_id not in self._watched:
                return
            self._exited[container_id] = int(code) if code.isdigit() else None
        self._on_exit()
