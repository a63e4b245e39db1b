"""The fused search (``--source all``) timed whole, as ``clipdex search`` runs it, for
benchmarks/query.py: ``search.fusion.search_spans`` on a real library of transcript lines and
stored clips, with the vector index of ``n`` synthetic clips in place of the library's own.

``Scaled`` is that library as search reads it (``search.catalog.Catalog``): the ids the big
index finds are mapped onto the stored clips (``(id - 1) % stored + 1``), so candidates are
fetched and re-ranked from real rows, as in benchmarks/query.py's visual stages. The re-rank
runs one round (``max_rounds=1``: the stopping rule is never met by random weights, so a
deepening re-rank would fetch 4 x as many candidates as a trained model does).

``before`` is the code at ``--baseline`` (git): its ``search/fusion.py`` (words, then pictures,
then fusion, one after the other; one clip query per word-only hit) and its
``storage/transcripts.py``; the rest of the path is this tree's. Each query runs both, in turns.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np


class _Mapped:
    """A vector index whose ids are mapped onto the ``stored`` clips of the library."""

    def __init__(self, index, stored: int) -> None:
        self.index, self.stored = index, stored

    def __len__(self) -> int:
        return len(self.index)

    def search(self, queries: np.ndarray, k: int, among=None):
        scores, ids = self.index.search(queries, k, among)
        return scores, np.where(ids >= 0, (ids - 1) % self.stored + 1, ids)


class Scaled:
    """The library as search reads it, with ``index`` for vectors (see the module docstring).
    ``old`` (baseline modules: ``repository``, ``transcripts``) answers as the baseline did."""

    def __init__(self, library, index, stored: int, old: dict | None = None) -> None:
        self.library, self.folder = library, library.folder
        self.mapped = _Mapped(index, stored)
        # As after a real search: the library's own index (of the stored clips) is loaded,
        # so the candidates' embeddings come from it and only their features from the database.
        library.vectors()
        self.old = old

    @property
    def settings(self):
        return self.library.settings

    def check_model(self, model_id: str, digest: str | None) -> None:
        self.library.check_model(model_id, digest)

    def vectors(self):
        return self.mapped

    def clip_ids_matching(self, wanted):
        return self.library.clip_ids_matching(wanted)

    def clip_hits(self, clip_ids):
        return self.library.clip_hits(clip_ids)

    def clip_rerank_inputs(self, clip_ids):
        return self.library.clip_rerank_inputs(clip_ids)

    def clips_at(self, places):
        return self.library.clips_at(places)

    def clip_at(self, video_id: int, time_s: float):
        """The baseline's read: a session and up to two queries per word-only hit."""
        with self.library.session() as session:
            return self.old["repository"].clip_at(video_id, time_s, session=session)

    def has_transcripts(self) -> bool:
        return self.library.has_transcripts()

    def search_transcripts(self, text: str, *, limit: int, wanted=None):
        if self.old is None:
            return self.library.search_transcripts(text, limit=limit, wanted=wanted)
        with self.library.session() as session:
            search = self.old["transcripts"].search_transcripts
            return search(text, session=session, limit=limit, wanted=wanted)

    def close(self) -> None:
        pass


def _waited_s() -> float:
    """Seconds this thread has waited, runnable, for a core (Linux schedstat; 0 elsewhere)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _cpu_s() -> float:
    """CPU seconds this process has used, all its threads together (ONNX Runtime's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_fused(library, index, stored: int, encoder, texts: list[str], old: dict) -> dict:
    """Seconds per text of the fused search now and before (taking turns, so a change of the
    machine's load falls on both), of now's words alone and of now's visual search alone;
    the same less the time the calling thread waited for a core (``unqueued``: about what an
    idle machine would take, on a machine shared with other jobs; for the fused search now,
    the words' thread is not counted, as it is shorter than the pictures); the CPU seconds
    each search used, all threads together (``cpu``: a search that needs more CPU than twice
    a latency cannot take that latency on 2 cores); and how many texts found the same hits
    both ways."""
    from search.fusion import SOURCE_ALL, SOURCE_VISUAL, search_spans
    from search.text import SearchOptions

    options = SearchOptions(k=10, max_rounds=1)
    now, before = Scaled(library, index, stored), Scaled(library, index, stored, old)
    runs = {
        "fused_now": lambda t: search_spans(now, encoder, t, options, SOURCE_ALL),
        "fused_before": lambda t: old["fusion"].search_spans(before, encoder, t, options),
        "visual_now": lambda t: search_spans(now, encoder, t, options, SOURCE_VISUAL),
        "words_now": lambda t: now.search_transcripts(t, limit=100),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    unqueued: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    same = 0
    for i, text in enumerate(texts):
        found = {}
        names = list(runs) if i % 2 == 0 else list(reversed(runs))
        for name in names:
            start, waited, used = time.perf_counter(), _waited_s(), _cpu_s()
            found[name] = runs[name](text)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(_cpu_s() - used)
            unqueued[name].append(times[name][-1] - (_waited_s() - waited))
        same += _same(found["fused_now"], found["fused_before"])
    return {
        "seconds": times,
        "unqueued": unqueued,
        "cpu": cpu,
        "same_hits": same,
        "texts": len(texts),
    }


def _same(now: list, before: list) -> bool:
    """Whether two fused rankings are the same spans in the same order (the text scores of
    the two sides are bm25 either way: compared to 6 places, as ``--json`` prints them)."""
    return [h.to_json() for h in now] == [h.to_json() for h in before]
