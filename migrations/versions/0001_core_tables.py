"""The core tables: accounts, resources, lock sessions and the lock queue.

Revision ID: rotest_0001
Revises:
Create Date: 2026-11-21

Tables and indexes are created IF NOT EXISTS so that a database made earlier
by ``db.create_all()`` is adopted instead of failing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0001"
down_revision = None
branch_labels = ("rotest",)
depends_on = None


def upgrade():
    op.create_table(
        "group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group")),
        sa.UniqueConstraint("name", name=op.f("uq_group_name")),
        if_not_exists=True,
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("username", name=op.f("uq_user_username")),
        if_not_exists=True,
    )
    op.create_table(
        "user_group",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["group.id"],
                                name=op.f("fk_user_group_group_id_group"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name=op.f("fk_user_group_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "group_id", name=op.f("pk_user_group")),
        if_not_exists=True,
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name=op.f("fk_api_token_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"],
                    if_not_exists=True)

    op.create_table(
        "lock_session",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("lease_seconds", sa.Double(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name=op.f("fk_lock_session_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lock_session")),
        if_not_exists=True,
    )
    for column in ("expires_at", "state", "user_id"):
        op.create_index(op.f(f"ix_lock_session_{column}"), "lock_session", [column],
                        if_not_exists=True)

    op.create_table(
        "lock_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("descriptors", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.JSON(), nullable=True),
        sa.Column("resolved", sa.DateTime(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["lock_session.id"],
                                name=op.f("fk_lock_request_session_id_lock_session"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lock_request")),
        if_not_exists=True,
    )
    op.create_index("ix_lock_request_queue", "lock_request", ["state", "priority", "id"],
                    if_not_exists=True)
    op.create_index(op.f("ix_lock_request_session_id"), "lock_request", ["session_id"],
                    if_not_exists=True)

    op.create_table(
        "resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_usable", sa.Boolean(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=150), nullable=False),
        sa.Column("owner_time", sa.DateTime(), nullable=True),
        sa.Column("reserved", sa.String(length=150), nullable=False),
        sa.Column("reserved_time", sa.DateTime(), nullable=True),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["group.id"],
                                name=op.f("fk_resource_group_id_group"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["session_id"], ["lock_session.id"],
                                name=op.f("fk_resource_session_id_lock_session"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
        sa.UniqueConstraint("name", name=op.f("uq_resource_name")),
        if_not_exists=True,
    )
    for column in ("group_id", "owner", "session_id", "type"):
        op.create_index(op.f(f"ix_resource_{column}"), "resource", [column],
                        if_not_exists=True)


def downgrade():
    # Dropping a table drops its indexes, on SQLite and PostgreSQL alike.
    for table in ("resource", "lock_request", "lock_session", "api_token",
                  "user_group", "user", "group"):
        op.drop_table(table)
