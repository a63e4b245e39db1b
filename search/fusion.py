"""One ranked list from what is shown and what is said: X-CLIP spans fused with transcript lines.

Two rankings of spans meet here. The visual one is ``search.text``'s: the spans it would show,
then every other re-ranked candidate clip; the text one is the database's full-text search over
transcript lines (``storage.transcripts``), lines of a video that overlap or touch joined into
one span, ordered by how much of the query a line has (``coverage``), then by the longest run of
the query's tokens the line says in a row, stop words included (``run``: of two lines that each
have one of the words of "him to drink more water every", the one that says "him to drink
more" wins; on recognised speech, where a misheard word leaves ties, benchmarks/phrases.py
found it lifted R@1 from 0.89 to 0.94), then by the engine's score; lines with the same
coverage and run whose scores are within 10 % (``TIE``) share a rank, so that visual
agreement, not a length-normalisation crumb of bm25, decides between them. A text span and a
visual span of the same video that overlap are one hit, whose score is the sum of each side's
reciprocal rank (Cormack, Clarke and Buettcher 2009):

    score = 1 / (K_VISUAL + visual rank)  +  coverage² / (K_TEXT + text rank)

(a side that did not find the span adds nothing). Why these constants:
- ``K_VISUAL = 60`` is RRF's usual constant: visual ranks change the score slowly, so a span
  found by both sides beats the best span found by pictures alone (1/61) at any text rank
  within the depth searched, and pictures never outvote words about the order of the top
  lines.
- ``K_TEXT = 5`` keeps the text side's own order at its top: the gap between text ranks 1, 2
  and 3 (at least 1/7 - 1/8 = 0.018) is larger than the most a visual rank can add (1/61 =
  0.016), so a visual ranking that knows nothing about a spoken sentence cannot move the line
  that says it below a line that says something else (what phrase retrieval needs).
- ``coverage²``: a line that has every word of the query (or is the quoted phrase) is the
  strongest evidence there is; one with half of them gets a quarter of the weight, so a line
  that happens to say "beach" ranks among the pictures of "a dog on a beach", not above them.
Without a transcript match the order is X-CLIP's, as in ``--source visual``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING

from search.beside import beside
from search.catalog import Catalog
from search.hits import ADJACENT_S, Hit, hits_for, merge_top, span_json
from search.text import SearchOptions, TextEncoder, initial_depth, rank_clips, search_text

if TYPE_CHECKING:
    from storage.transcript import TranscriptMatch

SOURCE_VISUAL, SOURCE_SPEECH, SOURCE_ALL = "visual", "speech", "all"
SEARCH_SOURCES = (SOURCE_VISUAL, SOURCE_SPEECH, SOURCE_ALL)
K_VISUAL = 60
K_TEXT = 5
TIE = 0.9  # text scores within 10 % of a better one (same coverage) are a tie


@dataclass(frozen=True)
class FusedHit:
    """A ranked span and why it matched: its X-CLIP score, its text score (None for a side
    that did not find it) and the transcript lines that matched, in time order.

    ``score`` is the X-CLIP cosine with ``--source visual`` (as ``search.hits.Hit``), else the
    fused score above. ``clip_id`` is the best clip of the span, or for a span found by words
    only the clip playing at its first line (None for a file without clips).
    """

    clip_id: int | None
    video_id: int
    path: str
    start_s: float
    end_s: float
    score: float
    visual_score: float | None = None
    text_score: float | None = None
    lines: tuple[TranscriptMatch, ...] = ()

    @property
    def play_from_s(self) -> float:
        """Where to start playing: the first matched line, else the span's start."""
        return self.lines[0].start_s if self.lines else self.start_s

    def to_json(self) -> dict:
        return {
            **span_json(self),
            "visual_score": _rounded(self.visual_score),
            "text_score": _rounded(self.text_score),
            "lines": [
                {
                    "start": round(line.start_s, 3),
                    "end": round(line.end_s, 3),
                    "text": line.text,
                    "source": line.source,
                    "marks": [list(mark) for mark in line.marks],
                }
                for line in self.lines
            ],
        }


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(float(score), 6)


def default_source(library: Catalog) -> str:
    """``all`` when any video has transcript lines, else ``visual`` (nothing to fuse)."""
    return SOURCE_ALL if library.has_transcripts() else SOURCE_VISUAL


def search_spans(
    library: Catalog,
    encoder: TextEncoder | None,
    query: str,
    options: SearchOptions,
    source: str = SOURCE_ALL,
    *,
    parallel: bool = True,
) -> list[FusedHit]:
    """The top ``options.k`` spans for ``query`` from pictures, words or both, best first.

    ``encoder`` may be None for ``speech``, which needs no model. ``negatives`` and
    ``min_score`` act on the X-CLIP side; ``only`` (the video filter) on both. With ``all``
    the transcript lines are searched on a thread of their own while the pictures are ranked
    on this one (``search.beside``; ``parallel=False``: one after the other, same hits).
    """
    if source not in SEARCH_SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SEARCH_SOURCES)}")
    if source == SOURCE_VISUAL:
        return [_visual_only(hit) for hit in search_text(library, encoder, query, options)]

    def words() -> list[TranscriptMatch]:
        depth = initial_depth(options.k)
        return library.search_transcripts(query, limit=depth, wanted=options.only)

    if source == SOURCE_SPEECH:
        lines, (shown, visual) = words(), ([], [])
    else:
        pictures = partial(_visual_ranking, library, encoder, query, options)
        lines, (shown, visual) = beside(words, pictures, parallel=parallel)
    return _with_clips(library, fuse(visual, len(shown), lines, options.k))


def fuse(
    visual: list[Hit], shown: int, lines: list[TranscriptMatch], k: int | None = None
) -> list[FusedHit]:
    """The fused ranking, best first, of a visual ranking (its first ``shown`` spans are hits
    on their own) and the transcript lines that matched (``search_transcripts``' order): its
    best ``k`` hits (None: all). Word-only hits have no clip yet (``search_spans`` gives them
    one). Groups are ordered by score (then words before none, path, start) before hits are
    made, so only the ``k`` shown are."""
    spoken = _text_spans(lines)
    groups = _groups(visual, shown, spoken)
    groups.sort(key=lambda group: _order(visual, spoken, *group))
    return [_hit([visual[v] for v in vs], vs, [spoken[t] for t in ts]) for vs, ts in groups[:k]]


def _visual_ranking(
    library: Catalog, encoder: TextEncoder, query: str, options: SearchOptions
) -> tuple[list[Hit], list[Hit]]:
    """The spans a visual search shows (its top ``k``), and the visual ranking: those spans,
    then every other re-ranked candidate clip, best first. A clip beyond the top ``k`` is never
    a hit by itself, but a line it overlaps is found by pictures too, at the clip's rank."""
    clips = hits_for(library, rank_clips(library, encoder, query, options))
    if options.min_score is not None:
        clips = [clip for clip in clips if clip.score >= options.min_score]
    shown = merge_top(clips, options.k)
    spans: dict[int, list[Hit]] = {}
    for span in shown:
        spans.setdefault(span.video_id, []).append(span)
    rest = [
        clip
        for clip in clips
        if not any(_inside(clip, span) for span in spans.get(clip.video_id, ()))
    ]
    return shown, shown + rest


def _inside(clip: Hit, span: Hit) -> bool:
    """Whether ``clip`` lies within ``span`` (a span of its video: the caller picks them)."""
    return clip.start_s >= span.start_s - ADJACENT_S and clip.end_s <= span.end_s + ADJACENT_S


def _where(span: Hit | _Spoken | TranscriptMatch) -> tuple[int, float, float]:
    return span.video_id, span.start_s, span.end_s


@dataclass
class _Spoken:
    """Lines of one video that overlap or touch, ranked by their best line."""

    video_id: int
    path: str
    start_s: float
    end_s: float
    lines: list[TranscriptMatch] = field(default_factory=list)
    rank: int = 0  # 1-based; spans whose evidence is tied share a rank

    @cached_property
    def best(self) -> TranscriptMatch:
        """The best line (read once the span's lines are all joined)."""
        return max(self.lines, key=lambda line: (line.coverage, line.run, line.score))


def _touch(video_a: int, a0: float, a1: float, video_b: int, b0: float, b1: float) -> bool:
    return video_a == video_b and a0 <= b1 + ADJACENT_S and b0 <= a1 + ADJACENT_S


def _text_spans(lines: list[TranscriptMatch]) -> list[_Spoken]:
    """The text ranking: matched lines joined into spans, by coverage then score, best first."""
    by_video: dict[int, list[_Spoken]] = {}
    for line in lines:
        joined = _Spoken(line.video_id, line.path, line.start_s, line.end_s, [line])
        spans = by_video.setdefault(line.video_id, [])
        for span in [s for s in spans if _touch(*_where(s), *_where(line))]:
            spans.remove(span)
            joined.lines.extend(span.lines)
            joined.start_s = min(joined.start_s, span.start_s)
            joined.end_s = max(joined.end_s, span.end_s)
        spans.append(joined)
    spans = [span for video in by_video.values() for span in video]
    spans.sort(key=lambda s: (-s.best.coverage, -s.best.run, -s.best.score, s.best.line_id))
    rank, leader = 0, None
    for span in spans:
        best = span.best
        if (
            leader is None
            or (best.coverage, best.run) < (leader.coverage, leader.run)
            or best.score < TIE * leader.score
        ):
            rank, leader = rank + 1, best
        span.rank = rank
    return spans


def _groups(
    visual: list[Hit], shown: int, spoken: list[_Spoken]
) -> list[tuple[list[int], list[int]]]:
    """Overlapping visual and text spans of a video joined into groups (visual indexes, text
    indexes), each group a hit; the first ``shown`` visual spans are hits on their own too."""
    # (visual indexes, text indexes) by a key that grows as groups are made: a merged group is
    # made anew, so key order is the order groups were last made in (the tie order of ``fuse``)
    groups: dict[int, tuple[set[int], list[int]]] = {}
    owner: dict[int, int] = {}  # visual index: the key of its group (groups never share one)
    of_video: dict[int, list[int]] = {}
    for v, hit in enumerate(visual):
        of_video.setdefault(hit.video_id, []).append(v)
    for t, span in enumerate(spoken):
        near = of_video.get(span.video_id, ())
        found = {v for v in near if _touch(*_where(visual[v]), *_where(span))}
        merged: tuple[set[int], list[int]] = (found, [t])
        for key in sorted({owner[v] for v in found if v in owner}):
            pictures, words = groups.pop(key)
            merged = (merged[0] | pictures, merged[1] + words)
        groups[t] = merged
        owner.update(dict.fromkeys(merged[0], t))
    made = [(sorted(vs), ts) for vs, ts in groups.values()]
    made += [([v], []) for v in range(shown) if v not in owner]
    return made


def _score(visual: list[int], words: list[_Spoken]) -> float:
    """A group's fused score (the module docstring); ``visual`` are its 0-based visual ranks."""
    score = 0.0
    if visual:
        score += 1.0 / (K_VISUAL + min(visual) + 1)
    if words:
        first = min(words, key=lambda span: span.rank)
        score += first.best.coverage**2 / (K_TEXT + first.rank)
    return score


def _order(visual: list[Hit], spoken: list[_Spoken], vs: list[int], ts: list[int]) -> tuple:
    """The sort key of a group's hit: (-score, no words, path, start)."""
    words = [spoken[t] for t in ts]
    path = visual[vs[0]].path if vs else words[0].path
    start_s = min([visual[v].start_s for v in vs] + [span.start_s for span in words])
    return (-_score(vs, words), not words, path, start_s)


def _hit(pictures: list[Hit], visual: list[int], words: list[_Spoken]) -> FusedHit:
    """The hit of a group of spans; ``visual`` are the pictures' 0-based ranks."""
    score = _score(visual, words)
    lines = sorted((line for span in words for line in span.lines), key=lambda x: x.start_s)
    top = max(pictures, key=lambda h: h.score) if pictures else None
    first = pictures[0] if pictures else words[0]
    return FusedHit(
        clip_id=top.clip_id if top else None,
        video_id=first.video_id,
        path=first.path,
        start_s=min([h.start_s for h in pictures] + [s.start_s for s in words]),
        end_s=max([h.end_s for h in pictures] + [s.end_s for s in words]),
        score=score,
        visual_score=top.score if top else None,
        text_score=max(line.score for line in lines) if lines else None,
        lines=tuple(lines),
    )


def _with_clips(library: Catalog, hits: list[FusedHit]) -> list[FusedHit]:
    """Give a hit found by words alone the clip playing at its first line (thumbnails, similar
    clips and ``clipdex similar --clip`` need one)."""
    words_only = [hit for hit in hits if hit.clip_id is None]
    if not words_only:
        return hits
    found = iter(library.clips_at([(hit.video_id, hit.play_from_s) for hit in words_only]))
    return [hit if hit.clip_id is not None else replace(hit, clip_id=next(found)) for hit in hits]


def _visual_only(hit: Hit) -> FusedHit:
    return FusedHit(
        hit.clip_id, hit.video_id, hit.path, hit.start_s, hit.end_s, hit.score, hit.score
    )
