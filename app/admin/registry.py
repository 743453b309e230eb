"""What ``register_resource_to_admin`` records. Kept free of Flask-Admin, so a
plugin that registers its models imports no web machinery (the client runtime
imports plugins too)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from rotest_app.models import ResourceData, sub_resource_fields


@dataclass(frozen=True)
class Registration:
    """How one resource model is shown: its own columns and its linked fields."""

    attr_list: tuple[str, ...] = ()
    link_list: tuple[str, ...] = ()


_registrations: dict[type[ResourceData], Registration] = {}


def register_resource_to_admin(resource_type: type[ResourceData],
                               attr_list: Iterable[str] = (),
                               link_list: Iterable[str] = ()) -> None:
    """Customise the admin view of a resource model, as in Rotest.

    ``attr_list`` names the model's columns to show in the list, beside the
    common ones (name, owner, ...); ``link_list`` names relationship fields,
    shown as links to the related resource's edit page. Call it at import time
    of a plugin; it applies to every app built afterwards.
    """
    if not (isinstance(resource_type, type) and issubclass(resource_type, ResourceData)):
        raise TypeError(f"{resource_type!r} is not a ResourceData model")
    registration = Registration(tuple(attr_list), tuple(link_list))
    missing = [name for name in registration.attr_list + registration.link_list
               if not hasattr(resource_type, name)]
    if missing:
        raise ValueError(f"{resource_type.__name__} has no field(s) {', '.join(missing)}")
    _registrations[resource_type] = registration


def own_fields(model: type[ResourceData]) -> list[str]:
    """The fields a model adds to ResourceData, in declaration order; a
    relationship stands in the place of its foreign key column."""
    base_keys = set(ResourceData.__mapper__.attrs.keys())
    relationships = [rel for rel in model.__mapper__.relationships
                     if rel.key not in base_keys]
    via_key = {column.key: rel.key for rel in relationships for column in rel.local_columns}
    fields = [via_key.get(attr.key, attr.key) for attr in model.__mapper__.column_attrs
              if attr.key not in base_keys]
    fields += [rel.key for rel in relationships]
    return list(dict.fromkeys(fields))


def default_registration(model: type[ResourceData]) -> Registration:
    """Without a registration: every own field, sub-resources as links."""
    fields = own_fields(model)
    links = [name for name in sub_resource_fields(model) if name in fields]
    return Registration(tuple(name for name in fields if name not in links), tuple(links))


def registration_of(model: type[ResourceData]) -> Registration:
    """The model's registration, or the default one."""
    return _registrations.get(model) or default_registration(model)
