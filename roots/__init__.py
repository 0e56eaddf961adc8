"""The pipeline root, flow's second plugin axis beside the backends: where a run's artifacts live.

One package or module per kind: a folder of the engine's machine (roots.local), a Kubernetes volume claim
(roots.pvc), an S3 prefix (roots.s3). Each owns its file access (roots.files.RootFiles), how a backend's
tasks see it (mounted, or staged in and out: roots.base.TaskView) and its staging. `roots.kinds.parse`
turns a recorded root into its kind; a backend keeps the views it made in a roots.views.RootViews.
"""
