"""The ``bcs`` command line (``bcs.cli.main``); the client package knows nothing of it."""

from bcs.cli.main import main

__all__ = ["main"]
