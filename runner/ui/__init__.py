"""`flow ui`: a light local web page over the run store (runs, graphs, logs, artifacts, starting runs)."""

DEFAULT_HOST = "127.0.0.1"  # loopback: anything else needs a token
DEFAULT_PORT = 8765
