"""Testing pipelines with flow: sessions usable without pytest, assertions, and the pytest plugin."""

from runner.testing.assertions import ComponentFailedError, assert_same_outputs, assert_succeeded, outputs_of
from runner.testing.session import FlowSession

__all__ = ["ComponentFailedError", "FlowSession", "assert_same_outputs", "assert_succeeded", "outputs_of"]
