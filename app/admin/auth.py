"""Who may use the admin site: Flask-Login sessions, admins only.

A session names the user and the user's *session version* (``User.get_id``);
logging out, a new password, a deactivation or an admin's "sign out
everywhere" raise the version, which ends every session of that user at once.
A session also ends ``session_hours`` after its login, whatever it did since.
"""
from __future__ import annotations

import secrets
import time
from functools import lru_cache

from flask import (Flask, abort, current_app, flash, g, redirect, request,
                   session)
from flask_admin import AdminIndexView, expose
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired

from rotest_app.models import LockRequest, LockSession, ResourceData, User, db

from .forms import AdminForm
from .redirects import safe_next
from .throttle import LoginThrottle

LOGGED_IN_AT = "logged_in_at"
THROTTLE = "rotest_login_throttle"

login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Please log in as an administrator."


def init_app(app: Flask) -> None:
    """Sessions and the login throttle, for ``app``'s settings."""
    settings = app.config["ROTEST"]
    login_manager.init_app(app)
    with app.app_context():
        app.extensions[THROTTLE] = LoginThrottle.on(
            db.engine, settings["login_limit_user"], settings["login_limit_address"])


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session, if that session has not ended: same session
    version as the account's, account active, login within the lifetime."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None  # a session of an older release, or forged: log in again
    logged_in_at = session.get(LOGGED_IN_AT)
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not isinstance(logged_in_at, (int, float)) \
            or not 0 <= time.time() - logged_in_at < lifetime:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def authenticate(username: str, password: str) -> User | None:
    """The user whose password this is, or None.

    An unknown name, or an account without a password, costs the same hash
    check as a wrong password: the time of an answer tells no user names.
    """
    user = db.session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user is not None else ""
    matches = check_password_hash(stored or _dummy_hash(), password)
    return user if matches and stored else None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.is_active
                and current_user.is_admin)


class AdminOnly:
    """Mixin for admin views: anonymous users go to login, others get 403."""

    def is_accessible(self) -> bool:
        return is_admin()

    def inaccessible_callback(self, name: str, **kwargs) -> Response:
        if current_user.is_authenticated:
            abort(403)
        return login_manager.unauthorized()


class LoginForm(AdminForm):
    username = StringField("Username", validators=[InputRequired()])
    password = PasswordField("Password", validators=[InputRequired()])


class SecureIndexView(AdminOnly, AdminIndexView):
    """The admin home page, plus the login and logout pages."""

    def _handle_view(self, name: str, **kwargs):
        if name in ("login", "logout"):
            return None
        return super()._handle_view(name, **kwargs)

    @expose("/")
    def index(self) -> str:
        return self.render("admin_site/index.html", counts=_dashboard_counts())

    @expose("/login", methods=("GET", "POST"))
    def login(self) -> Response | str | tuple:
        form = LoginForm()
        if not form.validate_on_submit():
            return self.render("admin_site/login.html", form=form)
        throttle: LoginThrottle = current_app.extensions[THROTTLE]
        username, address = form.username.data, request.remote_addr or ""
        wait = throttle.retry_after(username, address)
        if wait:
            flash(f"Too many failed logins for this user or from this address. "
                  f"Try again in {_minutes(wait)}.", "error")
            return (self.render("admin_site/login.html", form=form), 429,
                    {"Retry-After": str(wait)})
        user = authenticate(username, form.password.data)
        # The throttle counts in transactions of its own; on SQLite this
        # request's holds the write lock (taken up front for forms): end it.
        db.session.rollback()
        if user is not None and user.is_active:
            _start_session(user)
            throttle.succeeded(username)
            return redirect(safe_next(request.args.get("next"))
                            or self.get_url(".index"))
        throttle.failed(username, address)
        flash("Wrong username or password, or the account is disabled.", "error")
        return self.render("admin_site/login.html", form=form)

    @expose("/logout", methods=("POST",))
    def logout(self) -> Response:
        """Log out everywhere: every session of the user ends, not this one only."""
        if current_user.is_authenticated:
            current_user.end_sessions()
            db.session.commit()
        logout_user()
        return redirect(self.get_url(".login"))


def _start_session(user: User) -> None:
    """Log ``user`` in on a fresh session: nothing of the anonymous one is
    kept, the CSRF token included, and the login time starts the lifetime."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    login_user(user)
    session[LOGGED_IN_AT] = time.time()
    session.permanent = True  # the cookie expires with the session's lifetime


def _minutes(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _dashboard_counts() -> dict[str, int]:
    """The numbers on the admin home page."""
    resources = select(func.count(ResourceData.id))
    return {
        "resources": db.session.scalar(resources),
        "locked": db.session.scalar(resources.where(ResourceData.session_id.is_not(None))),
        "unusable": db.session.scalar(resources.where(ResourceData.is_usable.is_(False))),
        "sessions": db.session.scalar(select(func.count(LockSession.id)).where(
            LockSession.state == LockSession.ACTIVE)),
        "waiting": db.session.scalar(select(func.count(LockRequest.id)).where(
            LockRequest.state == LockRequest.WAITING)),
    }
