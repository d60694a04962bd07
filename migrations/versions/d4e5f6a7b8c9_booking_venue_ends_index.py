"""venues: index of bookings by home and end, for what overlaps a coming slot

Revision ID: d4e5f6a7b8c9
Revises: b3c1d2e4f5a6
Create Date: 2026-11-30 12:00:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "d4e5f6a7b8c9"
down_revision = "b3c1d2e4f5a6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_venue_ends", ["venue_id", "ends_at"], unique=False)


def downgrade():
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_venue_ends")
