"""Form pieces shared by the admin views."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField


class AdminForm(FlaskForm):
    """The base of every admin form: it carries Flask-WTF's CSRF token.

    Flask-Admin's own ``SecureForm`` signs its token differently from
    Flask-WTF, so CSRFProtect would refuse it; FlaskForm's token is the one
    CSRFProtect checks.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Flask-Admin's Unique validator reads the edited object from here.
        self._obj = kwargs.get("obj")
        super().__init__(*args, **kwargs)


class ReadOnlyField(StringField):
    """Shows a model value in a form; whatever is posted back is ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {"readonly": True})
        super().__init__(*args, **kwargs)

    def populate_obj(self, obj: Any, name: str) -> None:
        pass


class NewPasswordField(PasswordField):
    """Stores a password hash through ``set_password``; blank keeps the old one."""

    def populate_obj(self, obj: Any, name: str) -> None:
        if self.data:
            obj.set_password(self.data)
