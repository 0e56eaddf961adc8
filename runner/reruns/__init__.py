"""`flow rerun`: one task of a recorded run, run again as a new run with the inputs it had."""

from runner.reruns.run import input_artifacts, rerun

__all__ = ["input_artifacts", "rerun"]
