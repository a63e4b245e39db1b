"""Duplicate detection across the library: exact copies, near-duplicate videos, reused segments.

1. Exact copies share a content fingerprint; one of each set stands for it in the next steps.
2. Candidate frame pairs, in two tiers. Across the library, pairs within ``strict_radius``:
   the informative whole-frame hashes are indexed once (``search.hash_index``: bit-sampling
   LSH) and every hash queries the index for the hashes near it, instead of comparing all
   pairs. Then, only between two videos that share such a pair, every pair within ``radius``
   of their clips whose embeddings agree (``_loose_pairs``). Besides whole frame ~ whole
   frame, a pair may be a whole frame ~ its mirror (a horizontal
   flip), a whole frame ~ a region of the other video's frame (the centre for a crop, the 9:16
   strip for a vertical crop, a quadrant for a picture-in-picture inset), or a quadrant ~ the
   same quadrant (the background around an inset); see ``_ALLOWED``.
3. Each pair is weighed with the clip embeddings: a close hash counts on its own, a looser one
   only when the X-CLIP embeddings of the two clips holding the frames agree too (which is
   why the second tier looks only there).
4. Per pair of videos the matches are aligned in time (``search.align``): only runs of matches at
   one offset lasting ``min_seconds`` count, which rejects look-alike frames and short intros;
   blank and single-colour frames never count (their hash is flagged uninformative).
5. A pair whose runs cover most of both videos is a near-duplicate (groups are joined
   transitively); any other run is a reused segment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from search.align import AlignRules, Run, aligned_runs
from search.hash_index import HashIndex, distinct, popcount64
from storage import frame_hashes as hash_repo
from storage import repository as repo
from storage.frame_hashes import FLIP_MASK, REGION_NAMES, ClipSpan, VideoHashes
from storage.library import Library

HASH_BITS = 64
# What each hashed entry is: the stored regions in their order, then the mirrored whole frame.
_ROLES = (*REGION_NAMES, "mirror")
_ROLE = {name: i for i, name in enumerate(_ROLES)}


_CELLS = ("c0", "c1", "c2", "c3")
_BACKGROUND = ("q0", "q1", "q2", "q3", *_CELLS)  # matched only by the same part of the frame


def _allowed() -> np.ndarray:
    """Which pairs of entry roles may match (symmetric)."""
    allowed = np.zeros((len(_ROLES), len(_ROLES)), dtype=bool)
    full = _ROLE["full"]
    for role in _ROLES:  # the whole frame ~ the same frame, mirrored, or any region
        if role not in ("value", *_CELLS):
            allowed[full, _ROLE[role]] = allowed[_ROLE[role], full] = True
    # A quadrant or corner cell ~ the same one (the background around an inset); the
    # colour-robust hash of a whole frame ~ the other's (a hue turn, which reorders luma).
    for role in (*_BACKGROUND, "value"):
        allowed[_ROLE[role], _ROLE[role]] = True
    return allowed


_ALLOWED = _allowed()
# Share of a quadrant's matches that one offset (to 1 s) must hold; see _time_specific.
_SPECIFIC_SHARE = 0.3
_COSINE_CHUNK = 1 << 16  # clip pairs whose embeddings are gathered at once
EXACT = "exact"
NEAR_DUPLICATE = "near_duplicate"
SEGMENT = "segment"


@dataclass(frozen=True)
class DedupOptions:
    """Thresholds; see docs/duplicates.md for why these defaults."""

    min_seconds: float = 2.0  # shortest matched span reported
    threshold: float = 0.62  # lowest similarity of a finding (0-1)
    radius: int = 14  # a looser frame match: Hamming distance (of 64), with embedding support
    strict_radius: int = 8  # a frame match on the hash alone
    min_cosine: float = 0.8  # embedding agreement that admits a looser frame match
    near_coverage: float = 0.7  # share of both videos' frames a near-duplicate must cover


@dataclass(frozen=True)
class VideoRef:
    video_id: int
    path: str
    duration_s: float


@dataclass(frozen=True)
class Finding:
    """A: [a_start_s, a_end_s] matches B: [b_start_s, b_end_s]."""

    kind: str
    a: VideoRef
    b: VideoRef
    a_start_s: float
    a_end_s: float
    b_start_s: float
    b_end_s: float
    similarity: float
    hash_similarity: float
    embedding_similarity: float | None

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "a": self.a.path,
            "b": self.b.path,
            "a_start": round(self.a_start_s, 3),
            "a_end": round(self.a_end_s, 3),
            "b_start": round(self.b_start_s, 3),
            "b_end": round(self.b_end_s, 3),
            "similarity": round(self.similarity, 4),
            "hash_similarity": round(self.hash_similarity, 4),
            "embedding_similarity": (
                None if self.embedding_similarity is None else round(self.embedding_similarity, 4)
            ),
        }


@dataclass
class DuplicateGroup:
    """Videos that are copies of each other; ``matches`` holds the pairs that joined them."""

    kind: str
    videos: list[VideoRef]
    matches: list[Finding]

    @property
    def similarity(self) -> float:
        return min(m.similarity for m in self.matches)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "similarity": round(self.similarity, 4),
            "videos": [v.path for v in self.videos],
            "matches": [m.to_json() for m in self.matches],
        }


@dataclass
class DedupReport:
    groups: list[DuplicateGroup] = field(default_factory=list)
    segments: list[Finding] = field(default_factory=list)
    videos: int = 0
    frames: int = 0  # informative hashed frames scanned
    frame_pairs: int = 0  # candidate frame pairs the hash index returned
    unhashed: int = 0  # indexed videos without frame hashes (indexed by an older clipdex)
    stale: int = 0  # videos whose hashes predate region hashes (``clipdex index --rehash``)

    def to_json(self) -> dict:
        return {
            "groups": [g.to_json() for g in self.groups],
            "segments": [s.to_json() for s in self.segments],
        }


@dataclass
class _Frames:
    """Every informative hash (a region of a frame, or a mirrored frame) of the videos being
    compared, flattened: one entry each."""

    video: np.ndarray  # index into refs
    time_s: np.ndarray
    hashes: np.ndarray  # uint64
    role: np.ndarray  # index into _ROLES
    clip: np.ndarray  # row of ``embedding`` of the clip holding the frame, -1 if unknown
    embedding: np.ndarray  # (clips, dim) unit clip embeddings
    clip_rows: np.ndarray  # video v's rows of ``embedding``: clip_rows[v] to clip_rows[v + 1]


def find_duplicates(library: Library, options: DedupOptions = DedupOptions()) -> DedupReport:
    """Scan the whole library for duplicates."""
    if not 0 < options.radius < 32 or options.strict_radius > options.radius:
        raise ValueError("the hash radius must be between 1 and 31 bits, strict <= radius")
    if library.settings is None:  # never bound to a model: nothing indexed yet
        return DedupReport()
    with library.session() as session:
        stored = hash_repo.indexed_video_hashes(session=session)
        exact_sets = hash_repo.fingerprint_groups(session=session)
        unhashed = hash_repo.videos_without_hashes(session=session)
        spans = hash_repo.clip_spans(session=session)
        embeddings = repo.clip_embeddings([s.clip_id for s in spans], session=session)
    stale = sum(v.version < hash_repo.CURRENT_HASH_VERSION for v in stored)
    report = DedupReport(unhashed=unhashed, stale=stale)
    copies = {vid for members in exact_sets for vid, _ in members[1:]}
    videos = [v for v in stored if v.video_id not in copies]
    refs = [VideoRef(v.video_id, v.path, v.duration_s) for v in videos]
    report.videos = len(refs)
    by_id = {v.video_id: v for v in stored}
    report.groups += [_exact_group(members, by_id) for members in exact_sets]
    frames = _flatten(videos, spans, embeddings)
    report.frames = len(frames.time_s)
    pairs, distances = _candidate_pairs(frames, options.strict_radius)
    loose, loose_distances = _loose_pairs(frames, pairs, options)
    pairs, distances = _merged_pairs(frames, (pairs, distances), (loose, loose_distances))
    report.frame_pairs = len(pairs)
    cosines = _pair_cosines(frames, pairs)
    keep = (frames.video[pairs[:, 0]] != frames.video[pairs[:, 1]]) & (
        (distances <= options.strict_radius)
        | (np.nan_to_num(cosines, nan=0.0) >= options.min_cosine)
    )
    pairs, distances, cosines = pairs[keep], distances[keep], cosines[keep]
    near: list[Finding] = []
    rules = AlignRules(min_seconds=options.min_seconds)
    for (va, vb), rows in _by_video_pair(frames, pairs).items():
        rows = rows[_time_specific(frames, pairs[rows])]
        first = np.where(frames.video[pairs[rows, 0]] == va, pairs[rows, 0], pairs[rows, 1])
        second = np.where(frames.video[pairs[rows, 0]] == va, pairs[rows, 1], pairs[rows, 0])
        runs = aligned_runs(frames.time_s[first], frames.time_s[second], distances[rows], rules)
        if not runs:
            continue
        cos_rows = cosines[rows]
        findings = [
            _finding(SEGMENT, refs[va], refs[vb], run, _run_cosine(run, frames, first, cos_rows))
            for run in runs
        ]
        findings = [f for f in findings if f.similarity >= options.threshold]
        if not findings:
            continue
        if _covers_both(findings, videos[va], videos[vb], options.near_coverage):
            near.append(_merged(findings))
        else:
            report.segments += findings
    report.groups += _near_groups(near)
    report.segments.sort(key=lambda f: (-f.similarity, f.a.path, f.a_start_s))
    return report


def _exact_group(members: list[tuple[int, str]], by_id: dict[int, VideoHashes]) -> DuplicateGroup:
    refs = [
        VideoRef(vid, path, by_id[vid].duration_s if vid in by_id else 0.0) for vid, path in members
    ]
    first = refs[0]
    matches = [
        Finding(EXACT, first, other, 0.0, first.duration_s, 0.0, other.duration_s, 1.0, 1.0, None)
        for other in refs[1:]
    ]
    return DuplicateGroup(EXACT, refs, matches)


def _flatten(
    videos: list[VideoHashes], spans: list[ClipSpan], embeddings: dict[int, np.ndarray]
) -> _Frames:
    clips_of: dict[int, list] = defaultdict(list)
    for span in spans:
        clips_of[span.video_id].append(span)
    dim = len(next(iter(embeddings.values()))) if embeddings else 0
    parts_v, parts_t, parts_h, parts_r, parts_c, parts_e = [], [], [], [], [], []
    rows = 0
    clip_rows = [0]
    for index, video in enumerate(videos):
        if index:
            clip_rows.append(rows)
        times, hashes, roles = _entries(video)
        parts_v.append(np.full(len(times), index, dtype=np.int64))
        parts_t.append(times.astype(np.float64))
        parts_h.append(hashes)
        parts_r.append(roles)
        clips = [c for c in clips_of.get(video.video_id, []) if c.clip_id in embeddings]
        if not clips or not dim:
            parts_c.append(np.full(len(times), -1, dtype=np.int64))
            continue
        starts = np.array([c.start_s for c in clips])
        which = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(clips) - 1)
        parts_e.append(np.stack([embeddings[c.clip_id] for c in clips]))
        parts_c.append(rows + which)
        rows += len(clips)
    if not parts_v:
        empty = np.zeros(0)
        ints = empty.astype(np.int64)
        return _Frames(
            ints, empty, empty.astype(np.uint64), ints, ints, np.zeros((0, 0)), np.zeros(1, int)
        )
    return _Frames(
        np.concatenate(parts_v),
        np.concatenate(parts_t),
        np.concatenate(parts_h),
        np.concatenate(parts_r),
        np.concatenate(parts_c),
        np.concatenate(parts_e).astype(np.float32) if parts_e else np.zeros((0, 0), np.float32),
        np.array([*clip_rows, rows], dtype=np.int64),
    )


def _entries(video: VideoHashes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, hashes, roles) of a video's informative entries: each stored region, and the
    mirrored whole frame (version 2 only: version 1 hashes are thresholded at the median,
    which a mirror does not map onto a fixed XOR). Empty for a file without frames (an
    audio-only file: its stored arrays are empty)."""
    if not len(video.times_s):
        empty = np.zeros(0)
        return empty, empty.astype(np.uint64), empty.astype(np.int64)
    count = video.hashes.shape[1] if video.hashes.ndim == 2 else 1
    hashes = video.hashes.reshape(len(video.times_s), count)
    flags = video.informative.reshape(len(video.times_s), count)
    columns = [hashes[:, i] for i in range(count)]
    roles = list(range(count))
    masks = [flags[:, i] for i in range(count)]
    if video.version >= 2:
        columns.append(hashes[:, 0] ^ np.uint64(FLIP_MASK))
        roles.append(_ROLE["mirror"])
        masks.append(flags[:, 0])
    times = np.concatenate([video.times_s[m] for m in masks])
    values = np.concatenate([c[m] for c, m in zip(columns, masks)])
    kinds = np.concatenate([np.full(int(m.sum()), r, dtype=np.int64) for r, m in zip(roles, masks)])
    return times, values, kinds


def _time_specific(frames: _Frames, pairs: np.ndarray) -> np.ndarray:
    """Which of one video pair's matches to keep: quadrant ~ quadrant (and corner cell ~ corner
    cell) matches only where that part matches at one time offset rather than at all of them. A quadrant of the
    background around an inset moves with the footage; a quadrant holding a lower-third banner
    or a logo looks the same in every frame of every programme that shows it, so it matches
    every frame of the other video (all offsets alike) and proves nothing."""
    keep = np.ones(len(pairs), dtype=bool)
    roles = frames.role[pairs[:, 0]]
    background = np.isin(roles, [_ROLE[name] for name in _BACKGROUND])
    quadrant = (roles == frames.role[pairs[:, 1]]) & background
    for role in np.unique(roles[quadrant]):
        mine = quadrant & (roles == role)
        offsets = np.abs(frames.time_s[pairs[mine, 1]] - frames.time_s[pairs[mine, 0]])
        counts = np.bincount(np.round(offsets).astype(np.int64))
        if counts.max() < _SPECIFIC_SHARE * mine.sum():
            keep &= ~mine
    return keep


def _candidate_pairs(frames: _Frames, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of hashes of different videos within ``radius`` bits whose roles
    may match (``_ALLOWED``), and their distances.

    The whole-frame hashes are indexed once (``search.hash_index``) and every entry queries
    that index: a whole frame finds the other videos' whole frames, a mirrored frame or a
    region finds the whole frames it may stand for. A role that matches itself (a quadrant:
    the background around an inset) gets an index of its own, queried by its own entries.
    Each query costs one lookup plus what it finds, so the scan grows with the number of
    hashes, not with their square."""
    parts = []
    for role in np.flatnonzero(np.diag(_ALLOWED)):  # whole ~ whole, a quadrant ~ itself ...
        entries = np.flatnonzero(frames.role == role)
        index = HashIndex(frames.hashes[entries], frames.video[entries], radius)
        first, second, distances = index.pairs(radius)
        parts.append((np.stack([entries[first], entries[second]], axis=1), distances))
        if role == _ROLE["full"]:  # ... and every other role ~ the whole frames
            others = _ALLOWED[role].copy()
            others[role] = False
            queries = np.flatnonzero(others[frames.role])
            rows, found, distances = index.within(
                frames.hashes[queries], frames.video[queries], radius
            )
            parts.append((np.stack([queries[rows], entries[found]], axis=1), distances))
    pairs = np.concatenate([p for p, _ in parts]).reshape(-1, 2)
    distances = np.concatenate([d for _, d in parts]).astype(np.float64)
    swap = pairs[:, 0] > pairs[:, 1]
    pairs[swap] = pairs[swap][:, ::-1]
    return pairs, distances


def _loose_pairs(
    frames: _Frames, tight: np.ndarray, options: DedupOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Entry pairs (i < j) at most ``radius`` bits apart whose roles may match, looked for
    only between the clips, of the video pairs that share a tight pair, whose embeddings agree
    (``min_cosine``).

    A loose pair counts only with that agreement (``find_duplicates``), so this is every loose
    pair that could count between those videos, found exhaustively (with the tight pairs there
    that the library-wide search missed); that search stays at the tight radius, where chance
    pairs between unrelated videos are few (about 360 within 8 bits at 30k clips, against 810
    thousand 13-14 bits apart)."""
    empty = np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    if len(tight) == 0 or frames.embedding.shape[1] == 0:
        return empty
    order = np.argsort(frames.clip, kind="stable")  # entries by clip
    starts = np.searchsorted(frames.clip[order], np.arange(len(frames.embedding) + 1))
    bounds = frames.clip_rows
    parts, dists = [], []
    for va, vb in _video_pairs(frames, tight):
        a_clips = np.arange(bounds[va], bounds[va + 1])
        b_clips = np.arange(bounds[vb], bounds[vb + 1])
        if not len(a_clips) or not len(b_clips):
            continue
        agree = frames.embedding[a_clips] @ frames.embedding[b_clips].T >= options.min_cosine
        for ca, cb in zip(*np.nonzero(agree)):
            ea = order[starts[a_clips[ca]] : starts[a_clips[ca] + 1]]
            eb = order[starts[b_clips[cb]] : starts[b_clips[cb] + 1]]
            found = _close_entries(frames, ea, eb, options)
            parts.append(found[0])
            dists.append(found[1])
    if not parts:
        return empty
    return np.concatenate(parts), np.concatenate(dists)


def _video_pairs(frames: _Frames, pairs: np.ndarray) -> list[tuple[int, int]]:
    va, vb = frames.video[pairs[:, 0]], frames.video[pairs[:, 1]]
    low, high = np.minimum(va, vb), np.maximum(va, vb)
    width = int(frames.video.max()) + 1
    codes = distinct([low * width + high])
    return [(int(c // width), int(c % width)) for c in codes]


def _close_entries(
    frames: _Frames, ea: np.ndarray, eb: np.ndarray, options: DedupOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of entries ``ea`` x ``eb`` whose roles may match, within ``radius``."""
    distances = popcount64(frames.hashes[ea][:, None] ^ frames.hashes[eb][None, :])
    keep = _ALLOWED[frames.role[ea]][:, frames.role[eb]] & (distances <= options.radius)
    i, j = np.nonzero(keep)
    pairs = np.stack([ea[i], eb[j]], axis=1)
    pairs.sort(axis=1)
    return pairs, distances[i, j].astype(np.float64)


def _merged_pairs(
    frames: _Frames, *parts: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of ``parts`` (each (pairs i < j, distances)), each once, by (i, j)."""
    size = len(frames.hashes)
    pairs = np.concatenate([p for p, _ in parts]).reshape(-1, 2)
    distances = np.concatenate([d for _, d in parts])
    codes = pairs[:, 0] * size + pairs[:, 1]
    order = np.argsort(codes, kind="stable")
    codes, distances = codes[order], distances[order]
    first = np.ones(len(codes), dtype=bool)
    np.not_equal(codes[1:], codes[:-1], out=first[1:])
    codes = codes[first]
    return np.stack([codes // size, codes % size], axis=1), distances[first]


def _pair_cosines(frames: _Frames, pairs: np.ndarray) -> np.ndarray:
    if frames.embedding.shape[1] == 0 or len(pairs) == 0:
        return np.full(len(pairs), np.nan)
    left, right = frames.clip[pairs[:, 0]], frames.clip[pairs[:, 1]]
    known = (left >= 0) & (right >= 0)
    cosines = np.full(len(pairs), np.nan)
    # Many frame pairs share one pair of clips: each clip pair's cosine is computed once.
    codes = left[known] * len(frames.embedding) + right[known]
    unique = distinct([codes])
    first, second = unique // len(frames.embedding), unique % len(frames.embedding)
    values = np.empty(len(unique), dtype=frames.embedding.dtype)
    for start in range(0, len(unique), _COSINE_CHUNK):  # (chunk, dim) at a time, not all pairs
        part = slice(start, start + _COSINE_CHUNK)
        values[part] = np.einsum(
            "ij,ij->i", frames.embedding[first[part]], frames.embedding[second[part]]
        )
    cosines[known] = values[np.searchsorted(unique, codes)]
    return cosines


def _by_video_pair(frames: _Frames, pairs: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    va, vb = frames.video[pairs[:, 0]], frames.video[pairs[:, 1]]
    low, high = np.minimum(va, vb), np.maximum(va, vb)
    keys = low * (int(frames.video.max(initial=0)) + 1) + high
    order = np.argsort(keys, kind="stable")
    groups: dict[tuple[int, int], np.ndarray] = {}
    if len(order) == 0:
        return groups
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for chunk in np.split(order, bounds):
        groups[(int(low[chunk[0]]), int(high[chunk[0]]))] = chunk
    return groups


def _run_cosine(run: Run, frames: _Frames, first: np.ndarray, cosines: np.ndarray) -> float | None:
    """Mean embedding cosine of the frame pairs inside the run's A span."""
    times = frames.time_s[first]
    inside = (times >= run.a_start_s - 1e-6) & (times < run.a_end_s - 1e-6) & ~np.isnan(cosines)
    return float(cosines[inside].mean()) if inside.any() else None


def _finding(kind: str, a: VideoRef, b: VideoRef, run: Run, cosine: float | None) -> Finding:
    # 32 differing bits is what unrelated frames average, so that maps to 0.
    hash_similarity = max(0.0, 1.0 - run.mean_distance / (HASH_BITS / 2))
    # Both signals must agree: the embedding can veto a look-alike the hash accepted, never
    # lift a weak hash match (and a library without embeddings still works on hashes alone).
    similarity = hash_similarity if cosine is None else min(hash_similarity, max(cosine, 0.0))
    return Finding(
        kind,
        a,
        b,
        run.a_start_s,
        min(run.a_end_s, a.duration_s or run.a_end_s),
        run.b_start_s,
        min(run.b_end_s, b.duration_s or run.b_end_s),
        similarity,
        hash_similarity,
        cosine,
    )


def _coverage(findings: list[Finding], times: np.ndarray, side: str) -> float:
    if len(times) == 0:
        return 0.0
    covered = np.zeros(len(times), dtype=bool)
    for f in findings:
        start, end = (f.a_start_s, f.a_end_s) if side == "a" else (f.b_start_s, f.b_end_s)
        covered |= (times >= start - 1e-6) & (times < end + 1e-6)
    return float(covered.mean())


def _covers_both(findings: list[Finding], a: VideoHashes, b: VideoHashes, share: float) -> bool:
    """Near-duplicates: the runs cover ``share`` of both videos' informative frames (a frame
    with any informative region)."""
    return (
        _coverage(findings, a.times_s[_informative(a)], "a") >= share
        and _coverage(findings, b.times_s[_informative(b)], "b") >= share
    )


def _informative(video: VideoHashes) -> np.ndarray:
    flags = video.informative
    return flags.any(axis=1) if flags.ndim == 2 else flags


def _merged(findings: list[Finding]) -> Finding:
    """One near-duplicate finding spanning all the runs between two videos."""
    weights = np.array([f.a_end_s - f.a_start_s for f in findings])

    def mean(values: list) -> float:
        return float(np.average(values, weights=weights))

    cosines = [f.embedding_similarity for f in findings]
    first = findings[0]
    return Finding(
        NEAR_DUPLICATE,
        first.a,
        first.b,
        min(f.a_start_s for f in findings),
        max(f.a_end_s for f in findings),
        min(f.b_start_s for f in findings),
        max(f.b_end_s for f in findings),
        mean([f.similarity for f in findings]),
        mean([f.hash_similarity for f in findings]),
        None if None in cosines else mean(cosines),
    )


def _near_groups(near: list[Finding]) -> list[DuplicateGroup]:
    """Join near-duplicate pairs transitively (a re-encode of a crop of X is X's copy too)."""
    parent: dict[int, int] = {}

    def root(v: int) -> int:
        while parent.setdefault(v, v) != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for f in near:
        parent[root(f.a.video_id)] = root(f.b.video_id)
    groups: dict[int, DuplicateGroup] = {}
    for f in sorted(near, key=lambda f: (f.a.path, f.b.path)):
        group = groups.setdefault(root(f.a.video_id), DuplicateGroup(NEAR_DUPLICATE, [], []))
        group.matches.append(f)
        for ref in (f.a, f.b):
            if ref not in group.videos:
                group.videos.append(ref)
    for group in groups.values():
        group.videos.sort(key=lambda v: v.path)
    return sorted(groups.values(), key=lambda g: g.videos[0].path)
