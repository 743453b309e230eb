"""Rotest's client runtime: resources, test cases, runner and results.

Users' tests import it; it talks to the lock server, or to an embedded
database when no server is configured.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rotest-flask")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
