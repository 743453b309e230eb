"""Admin views of users, groups and API tokens."""
from __future__ import annotations

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from rotest_app.models import ApiToken, Group, User, db

from .forms import AdminForm, NewPasswordField
from .modelview import AdminModelView

CATEGORY = "Accounts"


class UserView(AdminModelView):
    """Accounts; the password is set through a field that stores only its hash.

    A new password or a deactivation ends the user's admin sessions (see
    :class:`~rotest_app.models.User`); "Sign out everywhere" ends them on demand.
    """

    column_list = ("username", "is_admin", "is_active", "groups", "created")
    column_searchable_list = ("username",)
    column_filters = ("is_admin", "is_active")
    column_default_sort = "username"
    form_base_class = AdminForm
    form_columns = ("username", "password", "is_admin", "is_active", "groups")
    form_extra_fields = {"password": NewPasswordField(
        "Password", description="Leave blank to keep the current password; "
                                "an account with none can only use API tokens.")}

    @action("sign_out", "Sign out everywhere",
            "End every admin session of the selected users (yours too, if selected)?")
    def action_sign_out(self, ids: list[str]) -> None:
        users = db.session.scalars(select(User).where(User.id.in_(
            [int(i) for i in ids if i.isdigit()]))).all()
        for user in users:
            user.end_sessions()
        db.session.commit()
        flash(f"Signed out {len(users)} user(s) everywhere.", "success")


class GroupView(AdminModelView):
    """Teams: a resource in a group may be locked by its members only."""

    column_list = ("name", "users")
    column_labels = {"users": "Members"}
    column_searchable_list = ("name",)
    form_base_class = AdminForm
    form_columns = ("name", "users")


class TokenView(AdminModelView):
    """API tokens. A new token is shown once, in a message; only its hash is kept."""

    can_edit = False
    column_list = ("user", "name", "prefix", "created", "last_used")
    column_filters = ("user.username",)
    column_labels = {"user.username": "User"}
    column_default_sort = ("created", True)
    form_base_class = AdminForm
    form_columns = ("user", "name")

    def create_model(self, form: AdminForm) -> ApiToken | bool:
        token, plain = ApiToken.issue(form.user.data, form.name.data or "")
        db.session.add(token)
        try:
            db.session.commit()
        except SQLAlchemyError as error:
            db.session.rollback()
            flash(f"Failed to create the token: {error}", "error")
            return False
        flash(f"New API token for {token.user}: {plain} - copy it now, "
              f"it will not be shown again.", "success")
        return token


def account_views() -> list[ModelView]:
    """Fresh views of the account models, for one Admin."""
    return [UserView(User, db, name="Users", endpoint="users", category=CATEGORY),
            GroupView(Group, db, name="Groups", endpoint="groups",
                      category=CATEGORY),
            TokenView(ApiToken, db, name="API tokens", endpoint="tokens",
                      category=CATEGORY)]
