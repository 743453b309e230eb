"""The installed distribution's version, asked for only by ``--version`` and
``rotest_core.__version__`` (importlib.metadata costs ~20 ms to import)."""
from __future__ import annotations


def version() -> str:
    """``0.1.0``; ``0+unknown`` in a source tree that is not installed."""
    # Lazy: importlib.metadata costs ~20 ms; only --version asks.
    from importlib.metadata import PackageNotFoundError, version as installed
    try:
        return installed("rotest-flask")
    except PackageNotFoundError:
        return "0+unknown"
