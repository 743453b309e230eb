"""Sessions that end and logins that are throttled: the user's session
version and the rate-limit counters shared by every server process.

Revision ID: rotest_0005
Revises: rotest_0004
Create Date: 2026-12-04

Like the earlier revisions, it adopts a database made by ``db.create_all()``:
the column and the table are added only when missing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0005"
down_revision = "rotest_0004"
branch_labels = None
depends_on = None


def upgrade():
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("user")}
    if "session_version" not in columns:
        op.add_column("user", sa.Column("session_version", sa.Integer(), nullable=False,
                                        server_default="1"))
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_rate_limit_expires_at"), "rate_limit", ["expires_at"],
                    unique=False, if_not_exists=True)


def downgrade():
    op.drop_index(op.f("ix_rate_limit_expires_at"), table_name="rate_limit")
    op.drop_table("rate_limit")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("session_version")
