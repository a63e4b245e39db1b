"""frame_hashes.version: region and flip-ready hashes (issue 12)

Revision ID: 0006_region_hashes
Revises: 0005_speech
Create Date: 2026-11-27

Rows written before this revision hold version 1 hashes (one median pHash of the whole frame per
time); they keep working for whole-frame matches, and ``clipdex dedup`` / ``status`` report those
videos as needing ``clipdex index --rehash`` (new hashes from the files, no re-embedding) to be
matched under flips, crops, insets and vertical crops.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006_region_hashes"
down_revision: str | Sequence[str] | None = "0005_speech"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("frame_hashes") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    # Older code reads one hash per time: region hashes would be misread, so they go (those
    # videos count as indexed without hashes there, which it reports).
    op.execute("DELETE FROM frame_hashes WHERE version > 1")
    with op.batch_alter_table("frame_hashes") as batch:
        batch.drop_column("version")
