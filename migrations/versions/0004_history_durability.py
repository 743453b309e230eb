"""History that outlives faults: client-chosen run ids, delta bases, the
number of tests a run meant to run, and run leases.

Revision ID: rotest_0004
Revises: rotest_0003
Create Date: 2026-12-04

Like the revisions before it, it adopts a database made by ``db.create_all()``:
what is already there is left as it is.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0004"
down_revision = "rotest_0003"
branch_labels = None
depends_on = None


COLUMNS = (sa.Column("uid", sa.String(length=64), nullable=True),
           sa.Column("base_id", sa.Integer(), nullable=True),
           sa.Column("planned", sa.Integer(), nullable=True),
           sa.Column("lease_until", sa.DateTime(), nullable=True))


def upgrade():
    inspector = sa.inspect(op.get_bind())
    present = {column["name"] for column in inspector.get_columns("history_run")}
    missing = [column for column in COLUMNS if column.name not in present]
    if not missing:
        return  # made by create_all, constraints and all
    # Two batches: SQLite rebuilds the table for the constraints, and its
    # batch mode cannot order new columns and a self-reference in one.
    with op.batch_alter_table("history_run") as batch:
        for column in missing:
            batch.add_column(column)
    with op.batch_alter_table("history_run") as batch:
        batch.create_unique_constraint(batch.f("uq_history_run_uid"), ["uid"])
        batch.create_foreign_key(batch.f("fk_history_run_base_id_history_run"),
                                 "history_run", ["base_id"], ["id"], ondelete="SET NULL")
        batch.create_index(batch.f("ix_history_run_lease_until"), ["lease_until"])


def downgrade():
    with op.batch_alter_table("history_run") as batch:
        batch.drop_index(batch.f("ix_history_run_lease_until"))
        batch.drop_constraint(batch.f("fk_history_run_base_id_history_run"),
                              type_="foreignkey")
        batch.drop_constraint(batch.f("uq_history_run_uid"), type_="unique")
    with op.batch_alter_table("history_run") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("planned")
        batch.drop_column("base_id")
        batch.drop_column("uid")
