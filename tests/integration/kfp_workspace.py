"""The workspace pipeline of the conformance suite, written with the real kfp SDK (kfp 2.17.3).

runner/testing/kfp_workspace.yaml is what kfp compiles this to (the suite must run where kfp is not
installed); tests/integration/test_workspace.py checks that the two still agree.

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# mypy: disable-error-code="no-any-return"

from kfp import compiler, dsl

from runner.testing.conformance import WORKSPACE

# The claim's class on a cluster: the cluster tests provide volumes of this class (no provisioner runs).
STORAGE_CLASS = "flow-workspace-test"


@dsl.container_component
def write_note(workspace: str, text: str) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(
        image="busybox:latest", command=["sh", "-c", 'printf %s "$1" > "$0/note.txt"'], args=[workspace, text]
    )


@dsl.container_component
def read_note(folder: str, runs_needed: int, note: dsl.OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    # Counts its runs in the workspace, and succeeds from the `runs_needed`th: a resumed run, or a rerun,
    # that finds the workspace again finds the count.
    script = 'n=$(cat "$0/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$0/runs"; [ $n -ge $1 ]'
    return dsl.ContainerSpec(
        image="busybox:latest",
        command=["sh", "-c", f'{script} && cat "$0/note.txt" > "$2"'],
        args=[folder, runs_needed, note],
    )


@dsl.container_component
def probe(seen: dsl.OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    # Kubeflow mounts the workspace only in the tasks given its path.
    return dsl.ContainerSpec(
        image="busybox:latest",
        command=["sh", "-c", 'if [ -e /kfp-workspace ]; then echo mounted; else echo absent; fi > "$0"'],
        args=[seen],
    )


@dsl.pipeline(
    name="conformance-workspace",
    pipeline_config=dsl.PipelineConfig(
        workspace=dsl.WorkspaceConfig(
            size="64Mi",
            kubernetes=dsl.KubernetesWorkspaceConfig(
                pvcSpecPatch={"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS}
            ),
        )
    ),
)
def workspace_sharing(text: str = "shared", runs_needed: int = 1) -> str:
    written = write_note(workspace=dsl.WORKSPACE_PATH_PLACEHOLDER, text=text)
    read = read_note(folder=f"{dsl.WORKSPACE_PATH_PLACEHOLDER}/.", runs_needed=runs_needed).after(written)
    probe()
    return read.outputs["note"]


def main() -> None:
    compiler.Compiler().compile(workspace_sharing, package_path=str(WORKSPACE))


if __name__ == "__main__":
    main()
