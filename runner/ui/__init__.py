"""`flow ui`: a light local web page over the run store (runs, graphs, logs, artifacts, starting runs)."""

DEFAULT_HOST = "127.0.0.1"  # loopback: no other machine reaches it
DEFAULT_PORT = 8765
