"""A pipeline root that is a folder of the engine's machine (roots.local.folder), and its files
(roots.local.files)."""
