"""The run's volume as the engine reaches it: through a small helper pod that mounts it, by exec.

The engine never assumes the volume is on its own machine. A helper pod (busybox by default) mounts the
claim at /flow and sleeps; each file operation is one exec of a short shell script in it. There is one
helper per claim, named after it, which every engine using the claim shares: a run starts without waiting
for a pod of its own. The helper ends itself once no exec has come for a while, so nothing stays running
long after the last engine, even one killed without warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import posixpath
import tarfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.base import BackendError, PermanentBackendError, Phase, TemporaryBackendError
from backends.k8s.errors import Conflict, NotFound, translated
from backends.k8s.pods import LABEL_MANAGED, MAIN_CONTAINER, ROOT_VOLUME, PodSettings
from backends.k8s.status import task_status, utc_now
from roots.base import MOUNT_PATH
from roots.beneath import RefusedFile, TooLarge
from roots.files import MAX_FOLDER_FILES, Digest, RootFiles, folder_digest

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api

log = logging.getLogger(__name__)

LABEL_ROLE = "flow.role"
_IDLE_SECONDS = 900  # the helper ends this long after its last exec
_READY_SECONDS = 120.0
_EXEC_SECONDS = 600.0
_EXEC_RETRY_SECONDS = 1.0
# Every script starts here: files the engine makes must be writable by tasks running as any user.
# And `nolink PATH` ends the script with code 98 where a name on the way to PATH is a symbolic link: what a
# task wrote is never followed out of the root (into the helper's own files).
_REFUSED = 98
_TOO_LARGE = 99  # a file over the size asked for: its path, size and the limit end stderr
_SIGNALLED = 128  # the shell's exit code for a script a signal ended is 128 plus the signal's number
_PRELUDE = (
    f"umask 000; cd {MOUNT_PATH} || exit 97; touch /tmp/flow-beat; "
    'nolink() { q=""; rest=$1; while [ -n "$rest" ]; do n=${rest%%/*}; '
    'if [ "$n" = "$rest" ]; then rest=""; else rest=${rest#*/}; fi; q=${q:+$q/}$n; '
    f'if [ -L "$q" ]; then echo "$q is a symbolic link" >&2; exit {_REFUSED}; fi; done; }}; '
)
_KEEPALIVE = (
    "touch /tmp/flow-beat; "
    f"while [ $(( $(date +%s) - $(stat -c %Y /tmp/flow-beat) )) -lt {_IDLE_SECONDS} ]; do sleep 5; done"
)


def helper_name(claim: str) -> str:
    """The helper's pod name for a claim: `flow-files-<claim>`, shortened with a digest past 63 chars."""
    name = f"flow-files-{claim}"
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha256(claim.encode()).hexdigest()[:8]}"


class HelperPod:
    """The claim's helper pod: made on first use where missing, and made again whenever it has ended, is
    failing (its image cannot be pulled, its container cannot start) or runs another image than this
    engine's (an earlier run's, whose image map differed)."""

    def __init__(self, core: CoreV1Api, settings: PodSettings, image: str) -> None:
        self.core, self.settings, self.image = core, settings, image
        self.name = helper_name(settings.claim)
        self._ready = False
        self._lock = threading.Lock()

    def manifest(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": MAIN_CONTAINER,
                    "image": self.image,
                    "imagePullPolicy": self.settings.pull_policy,
                    "command": ["sh", "-c", _KEEPALIVE],
                    "volumeMounts": [{"name": ROOT_VOLUME, "mountPath": MOUNT_PATH}],
                }
            ],
            "volumes": [{"name": ROOT_VOLUME, "persistentVolumeClaim": {"claimName": self.settings.claim}}],
        }
        if self.settings.service_account:
            spec["serviceAccountName"] = self.settings.service_account
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.settings.namespace,
                "labels": {LABEL_MANAGED: "1", LABEL_ROLE: "files"},
            },
            "spec": spec,
        }

    def ensure(self) -> str:
        """The helper's name, once it runs. Every engine on the claim may judge, replace or make it at the
        same moment: each deletes only the pod it judged (by uid), and makes it again should it vanish."""
        with self._lock:
            if self._ready:
                return self.name
            deadline = time.monotonic() + _READY_SECONDS
            doing = f"starting the volume helper pod {self.name}"
            while True:
                try:
                    with translated(doing):
                        pod = self.core.read_namespaced_pod(self.name, self.settings.namespace)
                except NotFound:
                    pod = None
                if pod is not None and self._replaced(pod):
                    self._delete(pod.metadata.uid, doing)
                    pod = None
                if pod is None:
                    # Another engine may make it at the same moment: theirs serves as well.
                    with contextlib.suppress(Conflict), translated(doing):
                        self.core.create_namespaced_pod(self.settings.namespace, self.manifest())
                if self._wait_running(deadline):
                    self._ready = True
                    return self.name

    def _replaced(self, pod: Any) -> bool:
        """Whether an existing helper pod cannot serve: it ended itself when idle, is failing, or runs
        another image."""
        if pod.metadata.deletion_timestamp is not None or pod.status.phase in ("Succeeded", "Failed"):
            return True
        images = [c.image for c in (pod.spec.containers or []) if c.name == MAIN_CONTAINER]
        if images != [self.image]:
            return True
        return task_status(pod, utc_now(), unschedulable_after=_READY_SECONDS).phase.finished

    def forget(self) -> None:
        """The helper failed an exec: check on it (and make it again if gone) before the next one."""
        with self._lock:
            self._ready = False

    def _wait_running(self, deadline: float) -> bool:
        """True once the helper runs; False when it went (another engine replaced it) or is going."""
        while True:
            if time.monotonic() > deadline:
                raise TemporaryBackendError(
                    f"the volume helper pod {self.name} is not running after {_READY_SECONDS:.0f} s "
                    f"(claim {self.settings.claim!r} unbound?)",
                    delay=5.0,
                )
            try:
                with translated(f"waiting for {self.name}"):
                    pod = self.core.read_namespaced_pod(self.name, self.settings.namespace)
            except NotFound:
                return False
            if pod.metadata.deletion_timestamp is not None:
                return False
            if pod.status is not None and pod.status.phase == "Running" and _main_running(pod):
                return True
            status = task_status(pod, utc_now(), unschedulable_after=_READY_SECONDS)
            if status.phase == Phase.FAILED or status.phase == Phase.SUCCEEDED:
                # Removed now, so that nothing of it stays to be reused; the next engine makes its own.
                with contextlib.suppress(BackendError):
                    self._delete(pod.metadata.uid, f"removing {self.name}")
                raise PermanentBackendError(
                    f"the volume helper pod {self.name} (image {self.image}, claim {self.settings.claim}) "
                    f"cannot run: {status.message or status.reason}"
                )
            time.sleep(0.2)

    def _delete(self, uid: str, doing: str) -> None:
        """Delete the helper pod with this uid and wait until it is gone. Only that pod: one another engine
        made since under the same name stays. Gone already, or replaced, is as good."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        with contextlib.suppress(NotFound, Conflict), translated(doing):
            self.core.delete_namespaced_pod(self.name, self.settings.namespace, body=body)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                pod = self.core.read_namespaced_pod(self.name, self.settings.namespace)
            except Exception:  # gone (404) or unreadable: either way create will say
                return
            if pod.metadata.uid != uid:
                return
            time.sleep(0.2)


def exit_code(pod: str, status: str) -> int:
    """The script's exit code, from the status the exec ends with on its error channel. No status, or a
    failure without an exit code, means the exec was cut short: the script may not have run to its end."""
    try:
        found = json.loads(status) if status else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise TemporaryBackendError(f"exec in {pod} ended without an exit code: no status")
    if found.get("status") == "Success":
        return 0
    details = found.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    for cause in causes if isinstance(causes, list) else []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            with contextlib.suppress(TypeError, ValueError):
                return int(cause["message"])
    raise TemporaryBackendError(f"exec in {pod} ended without an exit code: {found.get('message')}")


def _main_running(pod: Any) -> bool:
    """Whether the helper's own container runs (an exec needs it, not only the pod's phase)."""
    statuses = pod.status.container_statuses or []
    return any(c.name == MAIN_CONTAINER and c.state is not None and c.state.running for c in statuses)


class VolumeFiles(RootFiles):
    """The pipeline root on a claim, operated on through the helper pod."""

    def __init__(self, core: CoreV1Api, helper: HelperPod) -> None:
        self.core, self.helper = core, helper

    def run(self, script: str, args: Sequence[str] = (), stdin: bytes | None = None) -> bytes:
        """Run `script` (after the prelude) in the helper with `args` as $@; its stdout, or BackendError.
        A script is run a second time when the first was cut short, so every script must be safe to run
        again (each ends in the same files however often it runs)."""
        for attempt in (1, 2):
            name = self.helper.ensure()
            try:
                return self._exec(name, script, args, stdin)
            except TemporaryBackendError:
                self.helper.forget()
                if attempt == 2:
                    raise
                # A helper made again under the same name can be refused an exec for a moment, while the
                # kubelet still knows the one it replaced ("container not found").
                time.sleep(_EXEC_RETRY_SECONDS)
        raise AssertionError("unreachable")

    def _exec(self, pod: str, script: str, args: Sequence[str], stdin: bytes | None) -> bytes:
        from kubernetes.stream import stream
        from kubernetes.stream.ws_client import ERROR_CHANNEL
        from websocket import WebSocketException

        command = ["sh", "-c", _PRELUDE + script, "sh", *args]
        out, err = bytearray(), bytearray()
        with translated(f"exec in {pod}"):
            client = stream(
                self.core.connect_get_namespaced_pod_exec,
                pod,
                self.helper.settings.namespace,
                container=MAIN_CONTAINER,
                command=command,
                stdin=stdin is not None,
                stdout=True,
                stderr=True,
                tty=False,
                binary=True,
                _preload_content=False,
            )
            try:
                if stdin is not None:
                    client.write_stdin(stdin)
                deadline = time.monotonic() + _EXEC_SECONDS
                while client.is_open():
                    client.update(timeout=1)
                    if client.peek_stdout():
                        out += client.read_stdout()
                    if client.peek_stderr():
                        err += client.read_stderr()
                    if time.monotonic() > deadline:
                        raise TemporaryBackendError(f"exec in {pod} took over {_EXEC_SECONDS:.0f} s")
                status = client.read_channel(ERROR_CHANNEL)
            except WebSocketException as exc:  # the connection dropped: the API server or kubelet went
                raise TemporaryBackendError(f"exec in {pod} was cut off: {exc}") from exc
            finally:
                client.close()
        code = exit_code(pod, status)
        if code == 97:
            raise TemporaryBackendError(f"the volume is not mounted at {MOUNT_PATH} in {pod}")
        message = bytes(err).decode("utf-8", "replace").strip().splitlines()
        if code == _REFUSED:
            raise RefusedFile(message[-1] if message else "a path on the volume is refused")
        if code == _TOO_LARGE and message and len(message[-1].split()) == 3:
            path, size, limit = message[-1].split()
            raise TooLarge(path, int(size), int(limit))
        if code > _SIGNALLED:  # the helper was stopped under the script (replaced, or its node went)
            raise TemporaryBackendError(f"volume operation in {pod} was killed (exit {code})")
        if code:
            raise BackendError(
                f"volume operation failed in {pod} (exit {code}): {message[-1] if message else ''}"
            )
        return bytes(out)

    def read(self, paths: Sequence[str], max_bytes: int | None = None) -> dict[str, bytes]:
        if not paths:
            return {}
        # Paths are made of safe names (no spaces), so the unquoted list splits where it should. tar keeps
        # a link as a link (left out below), should one replace a file after the check.
        script = (
            'limit=$1; shift; f=""; for p; do nolink "$p"; '
            'if [ -f "$p" ]; then size=$(stat -c %s "$p"); '
            'if [ "$limit" -ge 0 ] && [ "$size" -gt "$limit" ]; then '
            f'echo "$p $size $limit" >&2; exit {_TOO_LARGE}; fi; f="$f $p"; '
            f'elif [ -e "$p" ] && [ ! -d "$p" ]; then echo "$p is not a regular file" >&2; exit {_REFUSED}; '
            'fi; done; [ -z "$f" ] || tar -c -f - $f'
        )
        data = self.run(script, [str(-1 if max_bytes is None else max_bytes), *paths])
        if not data:
            return {}
        found: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    found[posixpath.normpath(member.name)] = extracted.read()
        return found

    def read_part(self, path: str, offset: int, size: int) -> bytes:
        script = 'nolink "$1"; if [ -f "$1" ]; then tail -c +$(( $2 + 1 )) "$1" | head -c "$3"; fi'
        return self.run(script, [path, str(offset), str(size)])

    def exists(self, paths: Sequence[str]) -> set[str]:
        if not paths:
            return set()
        out = self.run('for p; do [ -e "$p" ] && echo "$p"; done; true', paths)
        return set(out.decode().split())

    def digests(self, paths: Sequence[str]) -> dict[str, Digest]:
        if not paths:
            return {}
        # One line per file: kind (F a file asked for, I a file in a folder asked for, D the folder
        # itself), size, sha256, the path asked for, the file's path inside the folder.
        script = (
            'one() { printf \'%s\\t%s\\t%s\\t%s\\t%s\\n\' "$1" $(wc -c < "$2") '
            '$(sha256sum < "$2" | cut -c1-64) "$3" "$4"; }; '
            'limit=$1; shift; for p; do nolink "$p"; if [ -f "$p" ]; then one F "$p" "$p" -; '
            'elif [ -d "$p" ]; then '
            "printf 'D\\t0\\t-\\t%s\\t-\\n' \"$p\"; "
            # find does not follow links (-type f is a regular file); one more than the limit is enough.
            '(cd "$p" && find . -type f) | head -n $(( limit + 1 )) | while IFS= read -r f; do '
            '[ -L "$p/${f#./}" ] || one I "$p/${f#./}" "$p" "${f#./}"; done; '
            f'elif [ -e "$p" ]; then echo "$p is not a regular file" >&2; exit {_REFUSED}; '
            "fi; done; true"
        )
        found: dict[str, Digest] = {}
        folders: dict[str, list[tuple[str, str]]] = {}
        sizes: dict[str, int] = {}
        listed = self.run(script, [str(MAX_FOLDER_FILES), *paths]).decode("utf-8", "replace")
        for line in listed.splitlines():
            try:
                kind, size, sha, asked, relative = line.split("\t", 4)
                if kind == "F":
                    found[asked] = (int(size), sha)
                elif kind == "D":
                    folders[asked], sizes[asked] = [], 0
                else:
                    folders[asked].append((relative, sha))
                    sizes[asked] += int(size)
            except (ValueError, KeyError):  # a file name with a tab or a line break in it
                raise RefusedFile(f"a file name the volume helper cannot list: {line!r}") from None
        for folder, pairs in folders.items():
            if len(pairs) > MAX_FOLDER_FILES:
                raise RefusedFile(f"{folder} holds more than {MAX_FOLDER_FILES} files")
            found[folder] = (sizes[folder], folder_digest(pairs))
        return found

    def reset(self, folder: str, create: bool) -> None:
        self.run(
            'nolink "$(dirname -- "$1")"; rm -rf -- "$1" && if [ "$2" = 1 ]; then mkdir -p -- "$1"; fi',
            [folder, "1" if create else "0"],
        )

    def make_folders(self, folders: Sequence[str]) -> None:
        if folders:
            self.run('for p; do nolink "$p"; done; mkdir -p -- "$@"', folders)

    def write(self, path: str, data: bytes) -> None:
        script = (
            'nolink "$1"; mkdir -p -- "$(dirname -- "$1")" && '
            'head -c "$2" > "$1.part" && mv -- "$1.part" "$1"'
        )
        self.run(script, [path, str(len(data))], stdin=data)

    def copy_in(self, source: Path, path: str) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(str(source), arcname=posixpath.basename(path))
        data = buffer.getvalue()
        script = (
            'nolink "$1"; mkdir -p -- "$(dirname -- "$1")" && '
            'head -c "$2" | tar -x -f - -C "$(dirname -- "$1")"'
        )
        self.run(script, [path, str(len(data))], stdin=data)

    def copy_out(self, folder: str, target: Path) -> int:
        if folder not in self.exists([folder]):
            return 0
        data = self.run('nolink "$1"; cd -- "$1" && tar -c -f - .', [folder])
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            # Regular files and folders only: a link the task made is not copied out, as on a local root.
            members = [member for member in archive.getmembers() if member.isfile() or member.isdir()]
            archive.extractall(target, members=members, filter="data")  # nothing lands outside target
        return sum(1 for member in members if member.isfile())
