"""clip_features: re-rank features in a table of their own (issue 16)

Revision ID: 0007_clip_features
Revises: 0006_region_hashes
Create Date: 2026-11-27

Each clip's re-rank features move from ``clips.features`` (float16, 50 KB for 49 x 512) to one
row of ``clip_features``, in ``storage.feature_codec``'s float16 encoding (the same values
behind a one-byte tag), in batches: nothing is embedded again and every score stays as it was.
``library.feature_encoding`` says how a library's features are stored: float16 for these
libraries and by default; int8 (half the bytes) only for a library made with it. The row goes
with its clip (ON DELETE CASCADE).

Each batch empties the converted clips' old column, so the pages it frees hold the next
batches' rows and the database file hardly grows; then the column is dropped. The conversion is
one transaction, so SQLite's write-ahead log grows to about the new rows' size (50 KB per clip)
before it is checkpointed into the database: that much free disk is needed.

An existing SQLite library keeps its page size (4 KB before this revision), where a 50 KB row
is still a chain of 13 pages; a new library is made with 64 KB pages, where it is one
(``storage.library.PAGE_SIZE``; docs/library.md says how to convert an old one).
On PostgreSQL the column is stored out of line without compression (``STORAGE EXTERNAL``):
float16 and int8 values barely compress, and pglz would try on every write.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from alembic import op
from storage import feature_codec

revision: str = "0007_clip_features"
down_revision: str | Sequence[str] | None = "0006_region_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_CLIPS = 256
FLOAT16 = "float16"
_FLOAT16 = np.dtype("<f2")


def _shape(connection: sa.Connection) -> tuple[int, int]:
    """(feature_tokens, embed_dim) of the library; (0, 0) for one never bound (no clips)."""
    row = connection.execute(
        sa.text("SELECT feature_tokens, embed_dim FROM library WHERE id = 1")
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def _batches(connection: sa.Connection, query: str):
    """Rows (id, blob) of ``query`` (taking :after and :limit), in id order, a batch at a time."""
    after = -1
    while True:
        rows = connection.execute(sa.text(query), {"after": after, "limit": BATCH_CLIPS}).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _float16(data: bytes, clip_id: int, tokens: int, dim: int) -> np.ndarray:
    if len(data) != tokens * dim * _FLOAT16.itemsize:
        raise RuntimeError(
            f"clip {clip_id}: stored features have {len(data)} bytes, "
            f"expected {tokens}x{dim} float16 values"
        )
    return np.frombuffer(data, dtype=_FLOAT16).reshape(tokens, dim)


def upgrade() -> None:
    op.create_table(
        "clip_features",
        sa.Column("clip_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clip_id"],
            ["clips.id"],
            name=op.f("fk_clip_features_clip_id_clips"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("clip_id", name=op.f("pk_clip_features")),
    )
    op.add_column(
        "library",
        sa.Column(
            "feature_encoding",
            sa.String(length=8),
            nullable=False,
            server_default=sa.text("'float16'"),
        ),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE clip_features ALTER COLUMN data SET STORAGE EXTERNAL")
    tokens, dim = _shape(connection)
    query = "SELECT id, features FROM clips WHERE id > :after ORDER BY id LIMIT :limit"
    for rows in _batches(connection, query):
        connection.execute(
            sa.text("INSERT INTO clip_features (clip_id, data) VALUES (:clip_id, :data)"),
            [
                {
                    "clip_id": i,
                    "data": feature_codec.encode(_float16(data, i, tokens, dim), FLOAT16),
                }
                for i, data in rows
            ],
        )
        connection.execute(
            sa.text("UPDATE clips SET features = :empty WHERE id >= :first AND id <= :last"),
            {"empty": b"", "first": rows[0][0], "last": rows[-1][0]},
        )
    # Not a batch (copy-and-move) operation: on SQLite that drops the old clips table, and with
    # foreign keys on, dropping it would delete every clip_features row by cascade. SQLite 3.35
    # and later drop a column in place.
    op.drop_column("clips", "features")


def downgrade() -> None:
    op.add_column(
        "clips",
        sa.Column("features", sa.LargeBinary(), nullable=False, server_default=sa.text("''")),
    )
    connection = op.get_bind()
    tokens, dim = _shape(connection)
    query = "SELECT clip_id, data FROM clip_features WHERE clip_id > :after ORDER BY clip_id LIMIT :limit"
    for rows in _batches(connection, query):
        decoded = feature_codec.decode_many([data for _, data in rows], tokens, dim)
        connection.execute(
            sa.text("UPDATE clips SET features = :data WHERE id = :clip_id"),
            [
                {"clip_id": i, "data": features.astype(_FLOAT16).tobytes()}
                for (i, _), features in zip(rows, decoded, strict=True)
            ],
        )
    if connection.dialect.name == "postgresql":
        op.alter_column("clips", "features", server_default=None)
    op.drop_table("clip_features")
    op.drop_column("library", "feature_encoding")
