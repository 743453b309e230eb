"""The run history: runs and their test records.

Revision ID: rotest_0002
Revises: rotest_0001
Create Date: 2026-11-21

Created IF NOT EXISTS, like rotest_0001, so that a database made earlier by
``db.create_all()`` is adopted instead of failing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0002"
down_revision = "rotest_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "history_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("run_dir", sa.Text(), nullable=False),
        sa.Column("artifact_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name=op.f("fk_history_run_user_id_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_run")),
        if_not_exists=True,
    )
    op.create_index("ix_history_run_name_start", "history_run", ["name", "start"],
                    if_not_exists=True)
    op.create_index(op.f("ix_history_run_user_id"), "history_run", ["user_id"],
                    if_not_exists=True)

    op.create_table(
        "history_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("classname", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("start", sa.DateTime(), nullable=True),
        sa.Column("end", sa.DateTime(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("infos", sa.JSON(), nullable=False),
        sa.Column("reruns", sa.JSON(), nullable=False),
        sa.Column("signatures", sa.JSON(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["history_record.id"],
                                name=op.f("fk_history_record_parent_id_history_record"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["history_run.id"],
                                name=op.f("fk_history_record_run_id_history_run"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_record")),
        if_not_exists=True,
    )
    op.create_index("ix_history_record_run_id_id", "history_record", ["run_id", "id"],
                    if_not_exists=True)
    op.create_index(op.f("ix_history_record_parent_id"), "history_record", ["parent_id"],
                    if_not_exists=True)


def downgrade():
    op.drop_table("history_record")
    op.drop_table("history_run")
