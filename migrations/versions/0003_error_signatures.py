"""Error signatures: known failure patterns with links to their bugs.

Revision ID: rotest_0003
Revises: rotest_0002
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "rotest_0003"
down_revision = "rotest_0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "error_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pattern", sa.String(length=2000), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_signature")),
        if_not_exists=True,
    )


def downgrade():
    op.drop_table("error_signature")
