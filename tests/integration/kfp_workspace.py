"""The workspace pipelines of the conformance suite, written with the real kfp SDK (kfp 2.17.3).

runner/testing/kfp_workspace.yaml and kfp_workspace_import.yaml are what kfp compiles these to (the suite
must run where kfp is not installed); tests/integration/test_workspace.py checks that they still agree.

No `from __future__ import annotations` here: kfp reads the components' annotations as real types.
"""

# mypy: disable-error-code="no-any-return"

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, OutputPath

from runner.testing.conformance import WORKSPACE, WORKSPACE_IMPORT

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


@dsl.container_component
def read_imported(data: Input[Dataset], seen: OutputPath(str)) -> dsl.ContainerSpec:  # type: ignore[valid-type]
    """Writes the artifact's content, the path and the URI the task was given, as `content|path|uri`."""
    return dsl.ContainerSpec(
        image="busybox:latest",
        command=["sh", "-c", 'printf "%s|%s|%s" "$(cat "$0")" "$0" "$1" > "$2"'],
        args=[data.path, data.uri, seen],
    )


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def read_imported_in_python(data: Input[Dataset]) -> str:
    # kfp's own Artifact.path: under /kfp-workspace/.artifacts when the backend marks it so.
    with open(data.path) as text:
        return f"{text.read()}|{data.path}"


@dsl.pipeline(
    name="conformance-workspace-import",
    pipeline_config=dsl.PipelineConfig(
        workspace=dsl.WorkspaceConfig(
            size="64Mi",
            kubernetes=dsl.KubernetesWorkspaceConfig(
                pvcSpecPatch={"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS}
            ),
        )
    ),
)
def workspace_import(uri: str) -> str:
    imported = dsl.importer(artifact_uri=uri, artifact_class=Dataset, download_to_workspace=True)
    read_imported_in_python(data=imported.output)
    return read_imported(data=imported.output).outputs["seen"]


COMPILED = {WORKSPACE: workspace_sharing, WORKSPACE_IMPORT: workspace_import}


def main() -> None:
    for path, pipeline in COMPILED.items():
        compiler.Compiler().compile(pipeline, package_path=str(path))


if __name__ == "__main__":
    main()
