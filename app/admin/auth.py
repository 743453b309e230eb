"""Who may use the admin site: Flask-Login sessions, admins only."""
from __future__ import annotations

from flask import abort, flash, redirect, request
from flask_admin import AdminIndexView, expose
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired

from app.models import LockRequest, LockSession, ResourceData, User, db

from .forms import AdminForm

login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Please log in as an administrator."


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The logged-in user of a session cookie, if that account still exists."""
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


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


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site; never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return None


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
    def login(self) -> Response | str:
        form = LoginForm()
        if form.validate_on_submit():
            user = db.session.scalar(select(User).where(
                User.username == form.username.data))
            if user and user.check_password(form.password.data) and login_user(user):
                return redirect(safe_next(request.args.get("next"))
                                or self.get_url(".index"))
            flash("Wrong username or password, or the account is disabled.", "error")
        return self.render("admin_site/login.html", form=form)

    @expose("/logout", methods=("POST",))
    def logout(self) -> Response:
        logout_user()
        return redirect(self.get_url(".login"))


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
