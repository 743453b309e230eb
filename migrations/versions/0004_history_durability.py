"""History that outlives faults: client-chosen run ids, delta bases, the
number of tests a run meant to run, and run leases.

Revision ID: rotest_0004
Revises: rotest_0003
Create Date: 2026-12-04

Like the revisions before it, it adopts a database made by ``db.create_all()``:
what is already there is left as it is. Runs left ``running`` by clients
older than leases get one from now, so that they too end (as aborted).
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0004"
down_revision = "rotest_0003"
branch_labels = None
depends_on = None

#: The lease given to runs that were running before leases existed (the
#: default of the run_lease_seconds setting).
OLD_RUNS_LEASE = 900

COLUMNS = (sa.Column("uid", sa.String(length=64), nullable=True),
           sa.Column("base_id", sa.Integer(), nullable=True),
           sa.Column("planned", sa.Integer(), nullable=True),
           sa.Column("lease_until", sa.DateTime(), nullable=True),
           sa.Column("lease_seconds", sa.Integer(), nullable=True))
UNIQUE, FOREIGN_KEY, INDEX = ("uq_history_run_uid", "fk_history_run_base_id_history_run",
                              "ix_history_run_lease_until")


def upgrade():
    inspector = sa.inspect(op.get_bind())
    present = {column["name"] for column in inspector.get_columns("history_run")}
    missing = [column for column in COLUMNS if column.name not in present]
    if missing:
        with op.batch_alter_table("history_run") as batch:
            for column in missing:
                batch.add_column(column)
    # A second batch: SQLite rebuilds the table for the constraints, and its
    # batch mode cannot order new columns and a self-reference in one.
    inspector = sa.inspect(op.get_bind())
    unique = {c["name"] for c in inspector.get_unique_constraints("history_run")}
    foreign = {c["name"] for c in inspector.get_foreign_keys("history_run")}
    indexes = {c["name"] for c in inspector.get_indexes("history_run")}
    if UNIQUE not in unique or FOREIGN_KEY not in foreign or INDEX not in indexes:
        with op.batch_alter_table("history_run") as batch:
            if UNIQUE not in unique:
                batch.create_unique_constraint(batch.f(UNIQUE), ["uid"])
            if FOREIGN_KEY not in foreign:
                batch.create_foreign_key(batch.f(FOREIGN_KEY), "history_run",
                                         ["base_id"], ["id"], ondelete="SET NULL")
            if INDEX not in indexes:
                batch.create_index(batch.f(INDEX), ["lease_until"])
    runs = sa.table("history_run", sa.column("status", sa.String),
                    sa.column("lease_until", sa.DateTime),
                    sa.column("lease_seconds", sa.Integer))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.execute(runs.update()
               .where(runs.c.status == "running", runs.c.lease_until.is_(None))
               .values(lease_until=now + timedelta(seconds=OLD_RUNS_LEASE),
                       lease_seconds=OLD_RUNS_LEASE))


def downgrade():
    with op.batch_alter_table("history_run") as batch:
        batch.drop_index(batch.f(INDEX))
        batch.drop_constraint(batch.f(FOREIGN_KEY), type_="foreignkey")
        batch.drop_constraint(batch.f(UNIQUE), type_="unique")
    with op.batch_alter_table("history_run") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
