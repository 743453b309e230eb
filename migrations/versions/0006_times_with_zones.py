"""Times with their zone: every stored time becomes ``timestamptz`` on
PostgreSQL, read as the UTC it always was. SQLite keeps no zones; its text
already holds UTC, so nothing changes there.

Revision ID: rotest_0006
Revises: rotest_0005
Create Date: 2026-12-04

Like the earlier revisions, it adopts a database made by ``db.create_all()``:
a column already of the zoned type is left as it is.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0006"
down_revision = "rotest_0005"
branch_labels = None
depends_on = None

TIMES = {
    "user": ["created"],
    "api_token": ["created", "last_used"],
    "lock_session": ["created", "expires_at", "ended"],
    "lock_request": ["created", "deadline", "resolved"],
    "resource": ["owner_time", "reserved_time"],
    "history_run": ["start", "end", "lease_until"],
    "history_record": ["start", "end"],
    "error_signature": ["created", "last_seen"],
}


def upgrade():
    _convert(zoned=True)


def downgrade():
    _convert(zoned=False)


def _convert(zoned: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, names in TIMES.items():
        types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for name in names:
            if getattr(types[name], "timezone", None) == zoned:
                continue
            # Stored values are UTC: read them as such (and back).
            op.alter_column(table, name, type_=sa.DateTime(timezone=zoned),
                            postgresql_using=f'"{name}" AT TIME ZONE \'UTC\'')
