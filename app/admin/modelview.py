"""The base of the admin's model views."""
from __future__ import annotations

from typing import Any

from flask import abort
from flask_admin.contrib.sqla import ModelView

from .auth import AdminOnly

#: List pages beyond this are refused (400): their offset would overflow the
#: database's integers (a 500 before).
MAX_PAGE = 1_000_000


class AdminModelView(AdminOnly, ModelView):
    """A model view for admins, whose list refuses page numbers out of range."""

    def get_list(self, page: int | None, *args: Any, **kwargs: Any) -> Any:
        if page is not None and not 0 <= page <= MAX_PAGE:
            abort(400, description=f"page {page} is out of range (0 to {MAX_PAGE})")
        return super().get_list(page, *args, **kwargs)
