"""home page: partial indexes of the events whose hours are not confirmed yet and of pending bookings by start

Revision ID: b3c1d2e4f5a6
Revises: ca06ce96dbdd
Create Date: 2026-11-30 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b3c1d2e4f5a6"
down_revision = "ca06ce96dbdd"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_hours_unconfirmed",
            ["ends_at"],
            unique=False,
            sqlite_where=sa.text("hours_confirmed_at IS NULL"),
            postgresql_where=sa.text("hours_confirmed_at IS NULL"),
        )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bookings_pending_starts",
            ["starts_at"],
            unique=False,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )


def downgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_bookings_pending_starts",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_hours_unconfirmed",
            sqlite_where=sa.text("hours_confirmed_at IS NULL"),
            postgresql_where=sa.text("hours_confirmed_at IS NULL"),
        )
