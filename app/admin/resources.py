"""Admin views of the resource models, one per model, and their actions."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectField

from rotest_app.engine import EngineError, release
from rotest_app.models import ResourceData, User, db, resource_models, utcnow

from .forms import AdminForm, ReadOnlyField
from .modelview import AdminModelView
from .registry import own_fields, registration_of

CATEGORY = "Resources"
#: Set by the lock engine; an admin sees them but never edits them.
READ_ONLY_FIELDS = ("owner", "owner_time", "session_id")


def resource_endpoint(model: type[ResourceData]) -> str:
    return model.__name__.lower()


def link_formatter(field: str | None = None) -> Callable[..., Markup | str]:
    """A list-column formatter: a link to the edit page of a resource.

    With ``field``, the resource is the one that field points at; without it,
    the row's own resource (for the view of all resources).
    """
    def format_link(view: Any, context: Any, model: ResourceData, name: str) -> Markup | str:
        target = getattr(model, field) if field else model
        if target is None:
            return ""
        url = url_for(f"{resource_endpoint(type(target))}.edit_view", id=target.id)
        return Markup('<a href="{}">{}</a>').format(url, target)
    return format_link


class ReserveForm(AdminForm):
    user = SelectField("Reserve for", choices=[])


class ResourceView(AdminModelView):
    """The common view of a resource model; ``view_for`` fills in the columns."""

    column_searchable_list = ("name", "owner", "comment")
    column_filters = ("name", "owner", "group.name", "is_usable")
    column_labels = {"group.name": "Group", "is_usable": "Usable"}
    column_default_sort = "name"
    named_filter_urls = True
    form_base_class = AdminForm
    form_extra_fields = {name: ReadOnlyField(name.replace("_", " ").capitalize())
                         for name in READ_ONLY_FIELDS}
    page_size = 50

    def create_form(self, obj: Any = None) -> AdminForm:
        form = super().create_form(obj)
        for name in READ_ONLY_FIELDS:  # nothing to show before it exists
            del form[name]
        return form

    def _selected(self, ids: Sequence[str]) -> list[ResourceData]:
        keys = [int(key) for key in ids if key.isdigit()]
        return list(db.session.scalars(select(self.model).where(self.model.id.in_(keys))))

    def _set_usable(self, ids: Sequence[str], usable: bool) -> None:
        resources = self._selected(ids)
        for resource in resources:
            resource.is_usable = usable
        db.session.commit()
        flash(f"Marked {len(resources)} resource(s) {'usable' if usable else 'unusable'}.",
              "success")

    @action("force_release", "Force release",
            "Release the selected resources, whoever holds them?")
    def action_force_release(self, ids: Sequence[str]) -> None:
        names = [resource.name for resource in self._selected(ids)
                 if resource.session_id is not None]
        if not names:
            flash("None of the selected resources is locked.", "info")
            return
        try:
            # The engine wants a plain Session, not Flask-SQLAlchemy's scoped proxy.
            release(db.session(), current_user._get_current_object(), names, force=True)
        except EngineError as error:
            flash(f"Force release failed: {error.message}", "error")
            return
        flash(f"Released {len(names)} resource(s): {', '.join(names)}.", "success")

    @action("mark_usable", "Mark usable")
    def action_mark_usable(self, ids: Sequence[str]) -> None:
        self._set_usable(ids, True)

    @action("mark_unusable", "Mark unusable")
    def action_mark_unusable(self, ids: Sequence[str]) -> None:
        self._set_usable(ids, False)

    @action("reserve", "Reserve for a user")
    def action_reserve(self, ids: Sequence[str]) -> Response:
        return redirect(self.get_url(".reserve_view", ids=list(ids)))

    @expose("/reserve/", methods=("GET", "POST"))
    def reserve_view(self) -> Response | str:
        """Pick the user the selected resources are reserved for (or nobody)."""
        resources = self._selected(request.args.getlist("ids"))
        form = ReserveForm()
        form.user.choices = [("", "nobody (clear the reservation)")] + [
            (name, name) for name in db.session.scalars(
                select(User.username).order_by(User.username))]
        if form.validate_on_submit():
            for resource in resources:
                resource.reserved = form.user.data
                resource.reserved_time = utcnow() if form.user.data else None
            db.session.commit()
            flash(f"Reserved {len(resources)} resource(s) for "
                  f"{form.user.data or 'nobody'}.", "success")
            return redirect(self.get_url(".index_view"))
        return self.render("admin_site/reserve.html", form=form, resources=resources)


COMMON_COLUMNS = ("is_usable", "owner", "reserved", "group", "dirty", "comment")
FORM_COLUMNS = ("is_usable", "group", "comment", "reserved", "reserved_time", "dirty",
                *READ_ONLY_FIELDS)


class AllResourcesView(ResourceView):
    """Every resource of every type; edited through its type's own view."""

    can_create = False
    can_edit = False
    column_list = ("name", "type", *COMMON_COLUMNS)
    column_formatters = {"name": link_formatter()}


def view_for(model: type[ResourceData]) -> ResourceView:
    """A new admin view of ``model``, shaped by its registration, if any."""
    if model is ResourceData:
        return AllResourcesView(model, db, name="All resources",
                                endpoint=resource_endpoint(model), category=CATEGORY)
    shown = registration_of(model)
    attributes = {
        "column_list": ("name", *shown.attr_list, *shown.link_list, *COMMON_COLUMNS),
        "form_columns": ("name", *own_fields(model), *FORM_COLUMNS),
        "column_formatters": {name: link_formatter(name) for name in shown.link_list},
    }
    view_class = type(f"{model.__name__}View", (ResourceView,), attributes)
    return view_class(model, db, name=model.__name__,
                      endpoint=resource_endpoint(model), category=CATEGORY)


def resource_views() -> list[ResourceView]:
    """One view per mapped resource model, the view of all resources first."""
    models = resource_models()
    base = models.pop(ResourceData.__name__)
    return [view_for(base)] + [view_for(model) for _, model in sorted(models.items())]
