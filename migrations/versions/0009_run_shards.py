"""Runs across many hosts: a run's ``--run-id`` (``run_group``) and its
``--shard K/N`` (``shard``, ``shards``), and the table where the first shard
of a run stores how the run's tests are split.

Revision ID: rotest_0009
Revises: rotest_0008
Create Date: 2026-12-05

Like the earlier revisions, it adopts a database made by ``db.create_all()``:
a column, index or table is made only when missing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0009"
down_revision = "rotest_0008"
branch_labels = None
depends_on = None

COLUMNS = (sa.Column("run_group", sa.String(length=255), nullable=True),
           sa.Column("shard", sa.Integer(), nullable=True),
           sa.Column("shards", sa.Integer(), nullable=True))
INDEX = "ix_history_run_run_group"


def upgrade():
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("history_run")}
    missing = [column for column in COLUMNS if column.name not in present]
    if missing:
        with op.batch_alter_table("history_run") as batch:
            for column in missing:
                batch.add_column(column)
    op.create_index(INDEX, "history_run", ["run_group"], unique=False, if_not_exists=True)
    zoned = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "history_shard_plan",
        sa.Column("run_group", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=zoned), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"],
                                name=op.f("fk_history_shard_plan_user_id_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("run_group", name=op.f("pk_history_shard_plan")),
        if_not_exists=True,
    )


def downgrade():
    op.drop_table("history_shard_plan")
    op.drop_index(INDEX, table_name="history_run")
    with op.batch_alter_table("history_run") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
