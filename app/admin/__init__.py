"""The admin site at /admin: Flask-Admin views of resources, accounts and locks.

Admins log in with a password (Flask-Login sessions). Every form of the app
is CSRF-protected by Flask-WTF's CSRFProtect, except the JSON API, whose
bearer tokens are not sent by browsers on their own.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from .registry import register_resource_to_admin

if TYPE_CHECKING:
    from flask_admin import Admin

__all__ = ["csrf", "init_app", "register_resource_to_admin"]

csrf = CSRFProtect()


def init_app(app: Flask) -> "Admin":
    """Mount a fresh admin site on ``app``; plugins' models are imported by now."""
    # Imported here: plugins import this package to register their models, and
    # the client runtime, which imports plugins too, needs no Flask-Admin.
    from flask_admin import Admin
    from flask_admin.theme import Bootstrap4Theme

    from ..security import allow_event_handlers, csp_nonce
    from .accounts import account_views
    from .auth import SecureIndexView
    from .auth import init_app as init_sessions
    from .locks import lock_views
    from .resources import resource_views
    from .signatures import signature_views

    csrf.init_app(app)
    if "api" in app.blueprints:
        csrf.exempt(app.blueprints["api"])
    init_sessions(app)
    admin = Admin(app, name="Rotest", url="/admin",
                  index_view=SecureIndexView(url="/admin"),
                  theme=Bootstrap4Theme(base_template="admin_site/base.html"),
                  csp_nonce_generator=csp_nonce)
    views = (*resource_views(), *account_views(), *lock_views(), *signature_views())
    for view in views:
        admin.add_view(view)
    allow_event_handlers(app, _flask_admin_handlers(views))
    return admin


def _flask_admin_handlers(views) -> list[str]:
    """The inline event handlers of Flask-Admin's (Bootstrap 4) templates, as
    they render for these views: the actions menu, the delete button of a
    row, the filter menu, and the ``javascript:void(0)`` of its menu links.
    They are the only inline script the site has."""
    actions = {name for view in views for name, _ in getattr(view, "_actions", [])}
    return ["return faHelpers.safeConfirm('Are you sure you want to delete "
            "this record?');", "return false;", "javascript:void(0)",
            *(f"return modelActions.execute('{name}');" for name in sorted(actions))]
