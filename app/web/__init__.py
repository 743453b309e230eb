"""Server HTML pages: the runs list, one run's tree, the resources dashboard.

They come with the run history (the reports issue); until then the blueprint
registers nothing.
"""
from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to register yet."""
