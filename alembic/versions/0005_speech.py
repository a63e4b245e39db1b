"""library.speech_mode/speech_model, videos.speech_checked: the library remembers speech is on

Revision ID: 0005_speech
Revises: 0004_transcripts
Create Date: 2026-11-27

``library.speech_mode`` is ``off`` (no recognition), ``auto`` (recognise files without subtitle
text) or ``always``; ``speech_model`` the faster-whisper name or folder it was turned on with,
so ``watch`` and later runs listen with the same model. ``videos.speech_checked`` says that the
text stage has considered the file with speech on, so turning speech on for a library already
indexed listens to its videos once, without embedding their pictures again.

Libraries made before this revision get ``off``, NULL and false: nothing changes for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005_speech"
down_revision: str | Sequence[str] | None = "0004_transcripts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # add_column alone needs no table copy on SQLite (ALTER TABLE ADD COLUMN), so the
    # transcript table's full-text triggers and the foreign keys into videos are untouched.
    op.add_column(
        "library",
        sa.Column("speech_mode", sa.String(length=8), nullable=False, server_default="off"),
    )
    op.add_column("library", sa.Column("speech_model", sa.Text(), nullable=True))
    op.add_column(
        "videos",
        sa.Column("speech_checked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("speech_checked")
    with op.batch_alter_table("library") as batch:
        batch.drop_column("speech_model")
        batch.drop_column("speech_mode")
