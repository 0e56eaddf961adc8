"""Backends turn one ready task into one running container (or process) and report on it."""
