"""Parity: clipdex's scores are the model's own scores.

Clips go through the whole pipeline (decode, segment, sample, preprocess, embed, store in
SQLite with float16 re-rank features, FAISS recall, re-rank); the scores must equal what
``XCLIPModel`` computes directly on the same frames:
- re-ranked: ``forward(...).logits_per_video / logit_scale``;
- ``--no-rerank``: the cosine of ``get_text_features`` and ``get_video_features``.
Tolerance: 2e-3 absolute on a cosine. The float16 re-rank features cost about 1e-4 with the tiny
model (measured below); the rest is float32 summation order.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from clipdex.encoder import XClipEncoder
from indexer.pipeline import Indexer
from indexer.preprocess import to_pixel_values
from indexer.probe import probe
from search.text import SearchOptions, search_text
from storage import feature_codec
from storage.library import Library
from storage.settings import LibrarySettings
from tests.support.library import bind_settings
from tests.support.videos import moving_shapes

QUERIES = ["a dog jumping into a lake", "red shapes moving", "an empty street at night"]
TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, xclip_checkpoint):
    """Four one-clip videos indexed into a library; returns (library, encoder, frames by path)."""
    folder = tmp_path_factory.mktemp("parity-videos")
    for seed in range(4):
        moving_shapes(folder / f"shapes{seed}.mp4", seconds=3.0, fps=25, seed=seed)
    encoder = XClipEncoder(str(xclip_checkpoint))
    library = Library.open(tmp_path_factory.mktemp("parity-lib"))
    settings = library.bind(bind_settings(encoder))
    indexer = Indexer(library, encoder, settings)
    report = indexer.run([folder])
    assert report.indexed == 4 and not report.failed
    frames = {}
    for path in sorted(folder.glob("*.mp4")):
        from indexer.sampling import iter_clips

        (clip,) = list(iter_clips(path, indexer.plan, probe(path).fps))
        frames[str(path)] = clip.frames
    yield library, encoder, frames
    library.close()


def _pixels(encoder, frames):
    spec = encoder.preprocess
    return torch.from_numpy(to_pixel_values([frames], spec.mean, spec.std))


def _tokens(encoder, text):
    return encoder._tokenizer([text], padding=True, return_tensors="pt")


@pytest.mark.parametrize("query", QUERIES)
def test_reranked_score_equals_model_forward(indexed, query):
    library, encoder, frames = indexed
    hits = search_text(library, encoder, query, SearchOptions(k=10, rerank=True))
    assert len(hits) == len(frames)
    model = encoder.model
    for hit in hits:
        tokens = _tokens(encoder, query)
        with torch.inference_mode():
            out = model(
                input_ids=tokens["input_ids"],
                attention_mask=tokens["attention_mask"],
                pixel_values=_pixels(encoder, frames[hit.path]),
            )
            expected = float(out.logits_per_video[0, 0] / model.logit_scale.exp())
        assert hit.score == pytest.approx(expected, abs=TOLERANCE)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("query", QUERIES)
def test_recall_score_equals_feature_cosine(indexed, query):
    library, encoder, frames = indexed
    hits = search_text(library, encoder, query, SearchOptions(k=10, rerank=False))
    model = encoder.model
    tokens = _tokens(encoder, query)
    with torch.inference_mode():
        text = model.get_text_features(**tokens).pooler_output[0]
    for hit in hits:
        with torch.inference_mode():
            video = model.get_video_features(_pixels(encoder, frames[hit.path])).pooler_output[0]
        expected = float(torch.nn.functional.cosine_similarity(text, video, dim=0))
        assert hit.score == pytest.approx(expected, abs=1e-4)


def test_stored_features_cost_is_small(indexed):
    """Measures the score error of storing re-rank features in a library's default encoding,
    float16 (storage/feature_codec.py; docs/library.md quotes it)."""
    library, encoder, frames = indexed
    worst = 0.0
    for clip_frames in frames.values():
        embedding, features = encoder.encode_clips(
            to_pixel_values([clip_frames], encoder.preprocess.mean, encoder.preprocess.std)
        )
        stored = feature_codec.decode_many(
            [feature_codec.encode(f, LibrarySettings.feature_encoding) for f in features],
            *features.shape[1:],
        )
        for query in QUERIES:
            text = encoder.encode_text(query)
            exact = encoder.rerank(text, features, embedding)
            worst = max(worst, float(np.abs(exact - encoder.rerank(text, stored, embedding)).max()))
    assert worst < 1e-3


def test_rerank_takes_stored_float16_views_as_their_float32_values(indexed):
    """The search hands the re-rank the stored float16 bytes (read-only views, stacked); the
    encoder widens them itself. The scores are those of the same features widened beforehand,
    bit for bit, and a read-only array is taken without copying it into torch's warning."""
    _, encoder, _ = indexed
    rng = np.random.default_rng(3)
    shape = (5, encoder.feature_tokens, encoder.embed_dim)
    half = (0.5 * rng.standard_normal(shape)).astype(np.float16)
    video = rng.standard_normal((5, encoder.embed_dim)).astype(np.float32)
    text = encoder.encode_text(QUERIES[0])
    views = [feature_codec.view(feature_codec.encode(f, "float16"), *shape[1:]) for f in half]
    assert not views[0].flags.writeable
    widened = encoder.rerank(text, half.astype(np.float32), video)
    np.testing.assert_array_equal(encoder.rerank(text, np.stack(views), video), widened)
    read_only = half.copy()
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(encoder.rerank(text, read_only, video), widened)
