"""The JSON lock API at /api/v1: thin doors onto :mod:`rotest_app.engine`.

Every route but ``/health`` and ``/openapi.json`` needs ``Authorization:
Bearer <token>``. Errors are JSON ``{"error", "message", "details"}`` with a
4xx status; the routes and shapes are in ``openapi.json`` beside this file.
"""
from __future__ import annotations

from flask import Flask

from . import errors, history, inventory, polls, presence, signatures  # noqa: F401 - they add routes to bp
from .contract import check_answer
from .views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Mount the blueprint named "api" (the admin site exempts it from CSRF by
    that name) and the JSON answers to routing errors under its prefix."""
    app.register_blueprint(bp)
    errors.init_app(app)
    polls.init_app(app)
    presence.init_app(app)
    if app.config.get("ROTEST_CHECK_ANSWERS"):
        app.after_request(check_answer)
