"""Runs on flow's engine: the run session every way of running one goes through, detached runs, and
cancelling a run whose engine is gone."""
