"""Binding a library to the encoder and clip settings: shared by ``index`` and ``watch``."""

from __future__ import annotations

from clipdex.cli import ClipdexError, load_encoder


def wanted_settings(encoder, min_clip=None, max_clip=None, shot_threshold=None, model_digest=None):
    """The settings a new library gets for ``encoder`` and the clip options (None: default);
    ``model_digest`` is the model's fingerprint (``clipdex.model_identity.model_digest``)."""
    from indexer.segment import SegmentRules
    from indexer.shots import DEFAULT_THRESHOLD
    from storage.settings import LibrarySettings

    defaults = SegmentRules()
    rules = SegmentRules(
        min_clip if min_clip is not None else defaults.min_clip_s,
        max_clip if max_clip is not None else defaults.max_clip_s,
    )
    return LibrarySettings(
        model_id=encoder.model_id,
        embed_dim=encoder.embed_dim,
        frames_per_clip=encoder.frames_per_clip,
        image_size=encoder.image_size,
        feature_tokens=encoder.feature_tokens,
        min_clip_s=rules.min_clip_s,
        max_clip_s=rules.max_clip_s,
        shot_threshold=shot_threshold if shot_threshold is not None else DEFAULT_THRESHOLD,
        model_digest=model_digest,
    )


def check_overrides(settings, min_clip, max_clip, shot_threshold) -> None:
    """Segmentation is fixed when a library is created; asking for other values is an error."""
    for flag, asked, held in (
        ("--min-clip", min_clip, settings.min_clip_s),
        ("--max-clip", max_clip, settings.max_clip_s),
        ("--shot-threshold", shot_threshold, settings.shot_threshold),
    ):
        if asked is not None and abs(asked - held) > 1e-9:
            raise ClipdexError(
                f"this library cuts clips with {flag} {held:g}; use a new --library for {asked:g}"
            )


def bind_encoder(
    library,
    model,
    quantize="none",
    min_clip=None,
    max_clip=None,
    shot_threshold=None,
    device="cpu",
):
    """Load the encoder for ``library`` (checked against its model first) and bind the library
    to it: returns (encoder, the library's settings). Shared by ``index`` and ``watch``.

    The model's fingerprint is checked on every bind (a cache hit: a few ``stat`` calls), so
    weights replaced in place under the library's own path are refused too."""
    from clipdex.model_identity import model_digest

    encoder = load_encoder(model, library, quantize, device)
    digest = model_digest(encoder.model_id)
    settings = library.bind(
        wanted_settings(encoder, min_clip, max_clip, shot_threshold, model_digest=digest)
    )
    check_overrides(settings, min_clip, max_clip, shot_threshold)
    return encoder, settings
