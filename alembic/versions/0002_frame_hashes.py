"""frame_hashes: perceptual hashes of sampled frames, one packed row per video

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Videos indexed before this revision have no hashes; ``clipdex dedup`` says how many and
re-indexing them (``clipdex index`` after touching the files, or into a new library) adds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "frame_hashes",
        sa.Column("video_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("times", sa.LargeBinary(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("informative", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_frame_hashes_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", name=op.f("pk_frame_hashes")),
    )


def downgrade() -> None:
    op.drop_table("frame_hashes")
