"""staff log-in through a site's SSO

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_sso_subjects",
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_staff_sso_subjects_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_staff_sso_subjects_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "subject", name=op.f("pk_staff_sso_subjects")),
    )
    with op.batch_alter_table("staff_sso_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_sso_subjects_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_sso_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sso_subjects_user_id"))
    op.drop_table("staff_sso_subjects")
