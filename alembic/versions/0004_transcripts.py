"""transcript_lines: what videos say (speech and subtitles), full-text indexed by the database

Revision ID: 0004_transcripts
Revises: 0003
Create Date: 2026-11-27

One row per line (video, start, end, source, language, text), deleted with its video
(ON DELETE CASCADE, like clips). The full-text index is the backend's own and lives outside the
models (``storage.models.FULL_TEXT_NAMES``):
- SQLite: an FTS5 table over the rows (external content, so the text is stored once), kept in
  step by three triggers; the tokenizer ``porter unicode61`` folds case and diacritics, splits
  at anything that is not a letter or digit, and reduces English words to their Porter stems.
- PostgreSQL: a GIN index on ``to_tsvector('english', text)`` (the same stems, and English stop
  words left out); queries name the same expression, so the planner uses the index.

A later batch migration of ``transcript_lines`` on SQLite copies the table and loses the
triggers: it must create them again (``SQLITE_FULL_TEXT`` below).

Libraries made before this revision have no lines; they start with none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004_transcripts"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FULL_TEXT = (
    "CREATE VIRTUAL TABLE transcript_fts USING fts5("
    "text, content='transcript_lines', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER transcript_fts_insert AFTER INSERT ON transcript_lines BEGIN "
    "INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER transcript_fts_delete AFTER DELETE ON transcript_lines BEGIN "
    "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " END",
    "CREATE TRIGGER transcript_fts_update AFTER UPDATE ON transcript_lines BEGIN "
    "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END",
)
POSTGRESQL_FULL_TEXT = (
    "CREATE INDEX ix_transcript_lines_text_search ON transcript_lines "
    "USING gin (to_tsvector('english', text))",
)


def upgrade() -> None:
    op.create_table(
        "transcript_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "source IN ('subtitles', 'sidecar', 'speech')",
            name=op.f("ck_transcript_lines_source"),
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_transcript_lines_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_lines")),
    )
    op.create_index(
        "ix_transcript_lines_video_id_start_s", "transcript_lines", ["video_id", "start_s"]
    )
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": SQLITE_FULL_TEXT, "postgresql": POSTGRESQL_FULL_TEXT}
    for statement in statements.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER transcript_fts_{trigger}")
        op.execute("DROP TABLE transcript_fts")
    op.drop_table("transcript_lines")  # drops its indexes, the GIN one included
