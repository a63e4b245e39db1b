"""What a library was built with: the model and the segmentation settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.errors import ModelMismatchError


@dataclass(frozen=True)
class LibrarySettings:
    """The settings a library is bound to on first use.

    The model must never change for a library: stored embeddings would become incomparable.
    ``model_digest`` is what the model is (its config and weights, see
    ``clipdex/model_identity.py``), so a copy of it under another path or name is accepted;
    ``model_id`` is the id or path it was built with, shown to the user. Libraries made before
    digests existed have None until they are next bound with that same ``model_id``. The other
    fields are stored too, so later runs cut and sample clips the same way even if the defaults
    change. ``feature_encoding`` is how re-rank features are stored (``storage.feature_codec``:
    float16, or int8 at half the bytes and a larger re-rank error); it is chosen when the
    library is made, and the stored one wins afterwards.
    """

    model_id: str
    embed_dim: int
    frames_per_clip: int
    image_size: int
    feature_tokens: int
    min_clip_s: float
    max_clip_s: float
    shot_threshold: float
    model_digest: str | None = None
    feature_encoding: str = "float16"


def check_model(
    stored: LibrarySettings | None, folder: Path, model_id: str, digest: str | None
) -> None:
    """Raise ModelMismatchError unless ``model_id`` (with ``digest``, None if unknown) is the
    model of the library in ``folder`` bound to ``stored``; a fresh library (None) accepts any.

    Digests decide when both are known, whatever the names; otherwise the names must match.
    """
    if stored is None:
        return
    if stored.model_digest and digest:
        same = stored.model_digest == digest
    else:
        same = stored.model_id == model_id
    if not same:
        raise ModelMismatchError(
            folder,
            stored.model_id,
            model_id,
            stored_digest=stored.model_digest,
            requested_digest=digest,
        )
