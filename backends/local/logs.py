"""A container's output, copied to its log file so that logs outlive the container: followed while it runs
where someone may read them meanwhile, else read once when it exited.

The Docker SDK returns multiplexed logs one frame (one line) at a time, which takes seconds per ten
megabytes; this reads the same HTTP stream in large blocks and splits the frames itself.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from backends.logfile import LogCopy

if TYPE_CHECKING:
    import docker

_HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), 3 padding bytes, payload size
_BLOCK = 1 << 16
_STDERR = 2


class LogFollower(LogCopy):
    """Copies one container's stdout and stderr into its log file: following them in a thread from `start`
    until it exits, or all at once with `copy_all` once it exited."""

    def __init__(
        self, api: docker.APIClient, container_id: str, log_path: Path, on_done: Callable[[], None]
    ) -> None:
        super().__init__(log_path, container_id[:12], on_done)
        self._api, self._container_id = api, container_id
        # The container's stdout and stderr reach Docker through two pipes, so where stderr's lines land
        # among stdout's in the copy is not ordered; its own last line (a Python exception, mostly) is
        # what a failure message quotes.
        self.last_error_line = ""

    def copy(self, log: BinaryIO) -> None:
        self._read(log, follow=True)

    def copy_all(self) -> None:
        """Copy the output of the container, which exited, in the calling thread; raises the Docker SDK's
        errors."""
        with self.log_path.open("ab") as log:
            self._read(log, follow=False)

    def _read(self, log: BinaryIO, follow: bool) -> None:
        import docker.errors
        import requests.exceptions

        api = self._api
        url = f"{api.base_url}/v{api.api_version}/containers/{self._container_id}/logs"
        params = {"stdout": 1, "stderr": 1, "follow": int(follow)}
        with api.get(url, params=params, stream=True, timeout=None) as response:
            try:
                response.raise_for_status()
            except requests.exceptions.HTTPError as exc:
                docker.errors.create_api_error_from_http_exception(exc)
            pending = b""
            while block := response.raw.read(_BLOCK):
                pending = self._write_frames(pending + block, log)
                log.flush()

    def _write_frames(self, data: bytes, log: BinaryIO) -> bytes:
        """Write every complete frame's payload to `log`, noting stderr's last line; return the rest."""
        view, offset = memoryview(data), 0
        write = log.write
        while len(data) - offset >= _HEADER.size:
            stream, size = _HEADER.unpack_from(view, offset)
            end = offset + _HEADER.size + size
            if end > len(data):
                break
            payload = view[offset + _HEADER.size : end]
            write(payload)
            if stream == _STDERR:
                lines = bytes(payload).decode("utf-8", errors="replace").strip().splitlines()
                if lines:
                    self.last_error_line = lines[-1].strip()
            offset = end
        return data[offset:]
