"""Read-only admin views of live lock sessions and of the wait queue."""
from __future__ import annotations

from typing import Any

from flask import redirect, request
from flask_admin import expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual
from werkzeug.wrappers import Response

from rotest_app.models import LockRequest, LockSession, db

from .modelview import AdminModelView

CATEGORY = "Locks"
ANY = "any"


class StateFilter(FilterEqual):
    """State equals one of the given states, or ``any`` for no filtering."""

    def __init__(self, column: Any, states: tuple[str, ...]) -> None:
        super().__init__(column, "State",
                         options=[(state, state) for state in (*states, ANY)])

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        return query if value == ANY else super().apply(query, value, alias)


class ReadOnlyView(AdminModelView):
    """Rows the lock engine owns: an admin looks, the engine writes."""

    can_create = False
    can_edit = False
    can_delete = False
    named_filter_urls = True
    page_size = 100


class LockSessionView(ReadOnlyView):
    column_list = ("id", "user", "description", "state", "created", "expires_at",
                   "ended", "lease_seconds")
    column_filters = (StateFilter(LockSession.state, (
        LockSession.ACTIVE, LockSession.CLOSED, LockSession.EXPIRED,
        LockSession.GONE)), "user.username")
    column_labels = {"user.username": "User"}
    column_default_sort = ("created", True)


class LockRequestView(ReadOnlyView):
    """The wait queue; it opens on the requests still waiting."""

    column_list = ("id", "session", "priority", "state", "created", "deadline",
                   "descriptors", "message")
    column_filters = (StateFilter(LockRequest.state, (
        LockRequest.WAITING, LockRequest.GRANTED, LockRequest.CANCELLED,
        LockRequest.TIMED_OUT, LockRequest.EXPIRED)),)
    column_default_sort = [("priority", True), ("id", False)]

    @expose("/")
    def index_view(self) -> Response | str:
        if not request.args:
            return redirect(self.get_url(".index_view",
                                         flt0_state_equals=LockRequest.WAITING))
        return super().index_view()


def lock_views() -> list[ModelView]:
    """Fresh views of sessions and queue, for one Admin."""
    return [LockSessionView(LockSession, db, name="Lock sessions",
                            endpoint="sessions", category=CATEGORY),
            LockRequestView(LockRequest, db, name="Wait queue",
                            endpoint="queue", category=CATEGORY)]
