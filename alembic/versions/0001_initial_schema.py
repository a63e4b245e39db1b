"""initial schema: library, videos, clips, clip_tombstones

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The schema is spelled out here rather than imported from storage.models, so this migration
keeps meaning the same thing after the models move on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "library",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("embed_dim", sa.Integer(), nullable=False),
        sa.Column("frames_per_clip", sa.Integer(), nullable=False),
        sa.Column("image_size", sa.Integer(), nullable=False),
        sa.Column("feature_tokens", sa.Integer(), nullable=False),
        sa.Column("min_clip_s", sa.Float(), nullable=False),
        sa.Column("max_clip_s", sa.Float(), nullable=False),
        sa.Column("shot_threshold", sa.Float(), nullable=False),
        sa.Column("generation", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_library_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library")),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("codec", sa.String(length=64), nullable=True),
        sa.Column("rotation", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('indexed', 'failed')", name=op.f("ck_videos_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
        sa.UniqueConstraint("path", name=op.f("uq_videos_path")),
    )
    op.create_index(op.f("ix_videos_fingerprint"), "videos", ["fingerprint"])
    op.create_table(
        "clips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_clips_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clips")),
        # Never reuse a deleted clip's id: ids are FAISS ids and tombstone keys.
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_clips_generation"), "clips", ["generation"])
    op.create_index("ix_clips_video_id_start_s", "clips", ["video_id", "start_s"])
    op.create_table(
        "clip_tombstones",
        sa.Column("clip_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("clip_id", name=op.f("pk_clip_tombstones")),
    )
    op.create_index(op.f("ix_clip_tombstones_generation"), "clip_tombstones", ["generation"])


def downgrade() -> None:
    op.drop_table("clip_tombstones")
    op.drop_table("clips")
    op.drop_table("videos")
    op.drop_table("library")
