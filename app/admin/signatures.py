"""Admin view of error signatures: the patterns and the links to their bugs."""
from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla import ModelView
from wtforms import ValidationError
from wtforms.validators import InputRequired, Length, Optional, URL

from rotest_app.models import ErrorSignature, db
from rotest_app.models.signatures import MAX_LINK, MAX_NAME, pattern_problem

from .forms import AdminForm
from .modelview import AdminModelView

CATEGORY = "Reports"


def valid_pattern(_form: Any, field: Any) -> None:
    """A WTForms validator: the pattern must compile with RE2, as the runs
    that match it compile it."""
    problem = pattern_problem(field.data or "")
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:] + ".")


class SignatureView(AdminModelView):
    """Known errors. Runs record new ones; an admin names them, refines the
    pattern and links the bug."""

    column_list = ("name", "pattern", "link", "hit_count", "last_seen", "created")
    column_searchable_list = ("name", "pattern", "link")
    column_default_sort = ("last_seen", True)
    column_labels = {"hit_count": "Hits", "last_seen": "Last seen"}
    column_descriptions = {"pattern": "A regular expression (RE2 syntax: no "
                                      "backreferences or lookarounds) searched for in "
                                      "the last 10 KB of each failure's traceback"}
    form_base_class = AdminForm
    form_columns = ("name", "pattern", "link")
    form_args = {
        "name": {"validators": [InputRequired(), Length(max=MAX_NAME)]},
        "pattern": {"validators": [InputRequired(), valid_pattern]},
        "link": {"validators": [Optional(), Length(max=MAX_LINK),
                                URL(require_tld=False,
                                    message="Give the bug's address, http(s)://...")]},
    }


def signature_views() -> list[ModelView]:
    """A fresh view of the signatures, for one Admin."""
    return [SignatureView(ErrorSignature, db, name="Error signatures",
                          endpoint="signatures", category=CATEGORY)]
