"""ResourceData: the polymorphic base of every resource model.

A user's model subclasses it and declares only its own columns::

    class CalculatorData(ResourceData):
        ip_address: Mapped[str] = mapped_column(String(64))
        sub_process_id: Mapped[int | None] = mapped_column(ForeignKey(SubProcessData.id))
        sub_process: Mapped[SubProcessData | None] = relationship(
            foreign_keys=[sub_process_id])

The base supplies the table name, the key and the polymorphic identity (the
class name). A many-to-one relationship to another resource model makes a
sub-resource, locked and released together with its parent.
"""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Iterator

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, RelationshipDirection, mapped_column, relationship

from .accounts import Group
from .base import db, snake_case


class ResourceData(db.Model):
    """A lockable thing of the lab: a device, a server, a licence."""

    __tablename__ = "resource"
    #: False for resources many tests may use at once; they are never owned.
    OWNABLE: ClassVar[bool] = True

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    is_usable: Mapped[bool] = mapped_column(default=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("group.id", ondelete="SET NULL"), index=True, default=None)
    group: Mapped[Group | None] = relationship()
    comment: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(150), default="", index=True)
    owner_time: Mapped[datetime | None] = mapped_column(default=None)
    reserved: Mapped[str] = mapped_column(String(150), default="")
    reserved_time: Mapped[datetime | None] = mapped_column(default=None)
    #: The lock session that holds the resource; None while it is free.
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("lock_session.id", ondelete="SET NULL"), index=True, default=None)
    #: True after a release that said the resource was left dirty.
    dirty: Mapped[bool] = mapped_column(default=False)

    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "ResourceData"}

    def __init_subclass__(cls, **kwargs) -> None:
        if "__tablename__" not in cls.__dict__:
            cls.__tablename__ = snake_case(cls.__name__)
        if "id" not in cls.__dict__:
            parent = next(base for base in cls.__mro__[1:]
                          if isinstance(base, type) and issubclass(base, ResourceData))
            cls.id = mapped_column(
                ForeignKey(f"{parent.__tablename__}.id", ondelete="CASCADE"),
                primary_key=True)
        mapper_args = dict(cls.__dict__.get("__mapper_args__", {}))
        mapper_args.setdefault("polymorphic_identity", cls.__name__)
        cls.__mapper_args__ = mapper_args
        super().__init_subclass__(**kwargs)

    @property
    def is_available(self) -> bool:
        """Free of any session, it and all its sub-resources."""
        return self.session_id is None and all(s.is_available
                                               for s in self.sub_resources())

    def sub_resources(self) -> Iterator["ResourceData"]:
        """The resources this one is made of (its many-to-one resource relations)."""
        for name in sub_resource_fields(type(self)):
            child = getattr(self, name)
            if child is not None:
                yield child

    def family(self) -> Iterator["ResourceData"]:
        """This resource and, depth first, every resource it is made of."""
        yield self
        for child in self.sub_resources():
            yield from child.family()

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


#: The free resources, in id order: what the lock engine reads for "any of
#: these" (partial, so a pool held almost whole costs what is free, not all).
Index("ix_resource_free", ResourceData.id,
      postgresql_where=ResourceData.session_id.is_(None),
      sqlite_where=ResourceData.session_id.is_(None))


def sub_resource_fields(model: type[ResourceData]) -> list[str]:
    """Names of the relationships of ``model`` that point at one other resource."""
    mapper = model.__mapper__
    return [rel.key for rel in mapper.relationships
            if rel.direction is RelationshipDirection.MANYTOONE
            and issubclass(rel.mapper.class_, ResourceData)]


def resource_models() -> dict[str, type[ResourceData]]:
    """Every mapped resource model, by its type name (the class name)."""
    return {identity: mapper.class_
            for identity, mapper in ResourceData.__mapper__.polymorphic_map.items()}
