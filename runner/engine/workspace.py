"""A run's workspace (KFP's `dsl.PipelineConfig(workspace=...)`): which one it has, which tasks use it.

Kubeflow makes one claim per run and mounts it at /kfp-workspace only in the tasks that use it: those
given `{{$.workspace_path}}` (or a text holding the mount path) as an input, or an input artifact it marked
as kept in the workspace (backend/src/v2/driver, needsWorkspaceMount). It deletes the claim with the run's
workflow once the run succeeded, and keeps it otherwise, so that a retry finds it: flow does the same, and
`flow resume` finds it again. A rerun uses the workspace of the run it re-runs.
"""

from __future__ import annotations

from backends.workspaces import WORKSPACE_PATH, Workspace
from runner import layout
from runner.engine.graph import Node
from runner.spec.model import Container, PipelineSpec
from runner.spec.workspace import PLACEHOLDER
from runner.store import RunRecord

# The pipeline-level value `{{$.workspace_path}}` stands for.
VALUE_NAME = "workspace_path"


def for_run(spec: PipelineSpec, run: RunRecord) -> Workspace | None:
    """The run's workspace, or None when its pipeline declares none."""
    if spec.workspace is None:
        return None
    owner = run.rerun_of or run.run_id
    return Workspace(
        owner=owner,
        host_dir=str(layout.flow_home() / "workspaces" / owner),
        size=spec.workspace.size,
        pvc_patch=spec.workspace.pvc_patch,
    )


def uses(node: Node, path: str) -> bool:
    """Whether the node's task uses the workspace that its tasks see at `path`: Kubeflow's rule, and a
    command naming `{{$.workspace_path}}` itself (which kfp.local resolves, and flow with it)."""
    container = node.component.executor
    if isinstance(container, Container) and any(
        PLACEHOLDER in argument for argument in (*container.command, *container.args)
    ):
        return True
    for value in node.params.values():
        if isinstance(value, str) and (path in value or WORKSPACE_PATH in value or PLACEHOLDER in value):
            return True
    return any(refs and refs[0].metadata.get(layout.IN_WORKSPACE) is True for refs in node.artifacts.values())
