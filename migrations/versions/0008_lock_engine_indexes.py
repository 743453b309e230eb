"""Indexes the lock engine chooses and serves with: the free resources (a
partial index in id order), the waiting requests past their deadline, and the
sessions whose lease ran out.

Revision ID: rotest_0008
Revises: rotest_0007
Create Date: 2026-12-04

Like the earlier revisions, it adopts a database made by ``db.create_all()``:
an index is made only when missing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0008"
down_revision = "rotest_0007"
branch_labels = None
depends_on = None


def upgrade():
    free = sa.text("session_id IS NULL")
    op.create_index("ix_resource_free", "resource", ["id"], unique=False,
                    postgresql_where=free, sqlite_where=free, if_not_exists=True)
    op.create_index("ix_lock_request_deadline", "lock_request", ["state", "deadline"],
                    unique=False, if_not_exists=True)
    op.create_index("ix_lock_session_expiry", "lock_session", ["state", "expires_at"],
                    unique=False, if_not_exists=True)


def downgrade():
    op.drop_index("ix_lock_session_expiry", table_name="lock_session")
    op.drop_index("ix_lock_request_deadline", table_name="lock_request")
    op.drop_index("ix_resource_free", table_name="resource")
