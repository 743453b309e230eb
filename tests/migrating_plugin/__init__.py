"""A resource plugin for the migration tests. They copy it to a temporary
directory and import it only in subprocesses, so that ``rotest db migrate
--plugin migrating_plugin`` writes its versions there and its model never
joins the test process's metadata. It ships no migrations of its own."""
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from rotest_app.models import ResourceData


class ProbeData(ResourceData):
    """A measuring probe of the lab."""

    serial: Mapped[str] = mapped_column(String(64), default="", index=True)
