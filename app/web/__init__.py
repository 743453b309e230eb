"""Server HTML pages: the runs of the history and one run's tree.

Logged-in users only (the admin site's login, Flask-Login); ``/runs`` lists
runs, ``/runs/<id>`` renders one with the same template as the standalone
HTML report (:mod:`rotest_templates`), ``/runs/<id>/artifact`` serves its zip.
"""
from flask import Flask

from .pages import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Mount the pages (the admin site, mounted before, provides the login)."""
    app.register_blueprint(bp)
