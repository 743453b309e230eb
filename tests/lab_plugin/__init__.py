"""A resource plugin of a small lab, used by the tests: the way a team's own
package defines its resource models."""
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rotest_app.models import ResourceData


class PortData(ResourceData):
    """A switch port; a sub-resource of a device."""

    number: Mapped[int] = mapped_column(default=0)


class DeviceData(ResourceData):
    """A device under test, wired to one switch port."""

    ip_address: Mapped[str] = mapped_column(String(64), default="")
    mode: Mapped[str] = mapped_column(String(32), default="normal")
    port_id: Mapped[int | None] = mapped_column(ForeignKey(PortData.id), default=None)
    port: Mapped[PortData | None] = relationship(foreign_keys=[port_id])


class LicenseData(ResourceData):
    """A floating licence any number of tests may use at once."""

    OWNABLE = False
    seats: Mapped[int] = mapped_column(default=1)


# The admin part of a plugin, as in Rotest: which columns its list shows.
from rotest_app.admin import register_resource_to_admin  # noqa: E402

register_resource_to_admin(DeviceData, attr_list=["ip_address", "mode"], link_list=["port"])
