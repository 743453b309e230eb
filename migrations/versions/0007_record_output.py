"""What each test printed: ``stdout`` and ``stderr`` of the history's records.

Revision ID: rotest_0007
Revises: rotest_0006
Create Date: 2026-12-04

Like the earlier revisions, it adopts a database made by ``db.create_all()``:
a column is added only when missing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0007"
down_revision = "rotest_0006"
branch_labels = None
depends_on = None

STREAMS = ("stdout", "stderr")


def upgrade():
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("history_record")}
    for name in STREAMS:
        if name not in columns:
            op.add_column("history_record", sa.Column(name, sa.Text(), nullable=False,
                                                      server_default=""))


def downgrade():
    with op.batch_alter_table("history_record") as batch:
        for name in STREAMS:
            batch.drop_column(name)
