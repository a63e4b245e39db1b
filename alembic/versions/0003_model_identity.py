"""library.model_digest: bind a library to what its model is, not to the name it was given

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Libraries made before this revision get NULL: the digest is filled the next time the library is
bound (``clipdex index`` or ``watch``) with a model whose id or path equals the stored
``model_id`` (that name built it, so its files are taken to be the model). Until then other
names are compared by name, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("library") as batch:
        batch.add_column(sa.Column("model_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("library") as batch:
        batch.drop_column("model_digest")
