"""How long each test waited for its resources: ``lock_wait`` and
``setup_time`` of the history's records (seconds; null when it locked nothing).

Revision ID: rotest_0011
Revises: rotest_0009
Create Date: 2026-12-05

Like the earlier revisions, it adopts a database made by ``db.create_all()``:
a column is added only when missing.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0011"
# rotest_0009 and rotest_0010 are on other branches: when they are merged,
# this revision follows the last of them.
down_revision = "rotest_0009"
branch_labels = None
depends_on = None

COLUMNS = ("lock_wait", "setup_time")


def upgrade():
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("history_record")}
    for name in COLUMNS:
        if name not in columns:
            op.add_column("history_record", sa.Column(name, sa.Double(), nullable=True))


def downgrade():
    with op.batch_alter_table("history_record") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
