"""A large artifact handed from one docker step to the next: flow against the same two containers run bare.

The first step writes `--mib` MiB (1024) to its output artifact, the second reads all of it. Bare runs the
two containers through the Docker SDK one after the other (create, start, wait, read logs, remove), sharing a
host folder bind-mounted into both, which is how flow's docker backend hands a folder root's artifacts over:
nothing is copied, so flow should cost what the bare containers cost. flow runs through its command line as
users call it (`flow run FILE --backend docker`), start-up included, with a fresh home and root each round.

Each round runs both columns, in turn; the medians of `--rounds` rounds (3) are printed with their ratio and
the load of the machine. Target (issue 23): flow/bare <= 1.10.

    python benchmarks/artifact_handoff.py [--mib 1024] [--rounds 3] [--image flow-test/busybox:latest]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import docker
import yaml
from docker_steps import flow_seconds

TARGET = 1.10


def dataset() -> dict[str, object]:
    """A Dataset's declaration, a new dict each time: a shared one would be dumped as a YAML alias."""
    return {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}


def write_script(mib: int) -> str:
    return f'head -c {mib * 1024 * 1024} /dev/zero > "$0"'


# The reader checks the size it read, so a step that lost the artifact fails the run.
def read_script(mib: int) -> str:
    return f'test "$(wc -c < "$0")" -eq {mib * 1024 * 1024}'


def pipeline(mib: int, image: str) -> str:
    """IR as kfp compiles two container components, the second taking the first's Dataset."""
    return yaml.safe_dump(
        {
            "pipelineInfo": {"name": "bench-artifact"},
            "components": {
                "comp-write": {
                    "executorLabel": "exec-write",
                    "outputDefinitions": {"artifacts": {"data": dataset()}},
                },
                "comp-read": {
                    "executorLabel": "exec-read",
                    "inputDefinitions": {"artifacts": {"data": dataset()}},
                },
            },
            "deploymentSpec": {
                "executors": {
                    "exec-write": {
                        "container": {
                            "image": image,
                            "command": ["sh", "-c", write_script(mib)],
                            "args": ["{{$.outputs.artifacts['data'].path}}"],
                        }
                    },
                    "exec-read": {
                        "container": {
                            "image": image,
                            "command": ["sh", "-c", read_script(mib)],
                            "args": ["{{$.inputs.artifacts['data'].path}}"],
                        }
                    },
                }
            },
            "root": {
                "dag": {
                    "tasks": {
                        "write": {"componentRef": {"name": "comp-write"}, "taskInfo": {"name": "write"}},
                        "read": {
                            "componentRef": {"name": "comp-read"},
                            "taskInfo": {"name": "read"},
                            "inputs": {
                                "artifacts": {
                                    "data": {
                                        "taskOutputArtifact": {
                                            "producerTask": "write",
                                            "outputArtifactKey": "data",
                                        }
                                    }
                                }
                            },
                        },
                    }
                }
            },
            "schemaVersion": "2.1.0",
            "sdkVersion": "kfp-2.17.3",
        }
    )


def bare_seconds(mib: int, image: str, folder: Path) -> float:
    """The two containers straight through the Docker SDK, the folder mounted into both."""
    client = docker.from_env()
    mount = {str(folder): {"bind": "/data", "mode": "rw"}}
    started = time.perf_counter()
    for script in (write_script(mib), read_script(mib)):
        container = client.containers.run(
            image, ["sh", "-c", script, "/data/data"], volumes=mount, detach=True
        )
        if container.wait()["StatusCode"] != 0:
            raise SystemExit("a bare container failed")
        container.logs()
        container.remove()
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--image", default="flow-test/busybox:latest")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    times: dict[str, list[float]] = {"bare": [], "flow": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "artifact.yaml"
        path.write_text(pipeline(args.mib, args.image), encoding="utf-8")
        for round_ in range(args.rounds):
            folder = work / f"bare-{round_}"
            folder.mkdir()
            times["bare"].append(bare_seconds(args.mib, args.image, folder))
            shutil.rmtree(folder)
            home = work / f"home-{round_}"
            times["flow"].append(flow_seconds(path, home, 1))
            shutil.rmtree(home)  # the run's root is in its home: a GiB a round otherwise stays on disk

    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"{args.mib} MiB artifact from one step to the next, {args.image}; load average {load}")
    med = {name: statistics.median(values) for name, values in times.items()}
    ratio = med["flow"] / med["bare"]
    verdict = "ok" if ratio <= TARGET else "MISSED"
    figures = f"bare {med['bare']:6.2f}, flow {med['flow']:6.2f}"
    print(f"medians of {args.rounds} alternating rounds, seconds: {figures}")
    print(f"  flow/bare {ratio:.2f}x (target <= {TARGET:.2f}x: {verdict})")


if __name__ == "__main__":
    main()
