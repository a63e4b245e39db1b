"""``clipdex eval CAPTIONS.csv --videos DIR``: retrieval metrics of the library's model on a
benchmark, with and without re-rank (see ``search/metrics.py`` for the definitions)."""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import click

from clipdex.binding import bind_encoder
from clipdex.cli import (
    EXIT_FAILED_FILES,
    ClipdexError,
    Context,
    batch_option,
    json_option,
    model_option,
    quantize_option,
    typed_errors,
)
from clipdex.render import table

MODE_TITLES = {"rerank": "re-rank", "no_rerank": "no re-rank"}
VIDEO_ROWS = (("R@1", "r1"), ("R@5", "r5"), ("R@10", "r10"))


@click.command("eval")
@click.argument("captions_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--videos",
    "videos_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding the videos the CSV names.",
)
@model_option
@click.option("--min-clip", type=float, default=None, help="Shortest clip in seconds [2.0].")
@click.option("--max-clip", type=float, default=None, help="Longest clip in seconds [10.0].")
@click.option("--shot-threshold", type=float, default=None, help="Cut sensitivity [27.0].")
@batch_option
@quantize_option
@json_option
@click.pass_obj
@typed_errors
def command(
    obj: Context,
    captions_csv: Path,
    videos_dir: Path,
    model: str | None,
    min_clip: float | None,
    max_clip: float | None,
    shot_threshold: float | None,
    batch_clips: int,
    quantize: str,
    as_json: bool,
) -> None:
    """Measure text-to-video retrieval on CAPTIONS.csv (video,caption[,start,end] rows).

    Indexes the videos the CSV names into a temporary library (removed afterwards), or into
    the library given with the global --library/--db-url on the command line (it must hold
    no other videos; CLIPDEX_LIBRARY is ignored here, so an archive is never mixed in), then
    searches every caption with and without re-rank.
    """
    from search.captions import read_captions

    captions = read_captions(captions_csv, videos_dir)
    files = list(dict.fromkeys(c.path for c in captions))
    with _eval_library(obj) as library:
        _refuse_other_videos(library, files, captions_csv)
        encoder = _index(
            library,
            files,
            (model, quantize, min_clip, max_clip, shot_threshold),
            batch_clips=batch_clips,
            bar=not as_json and sys.stderr.isatty(),
        )
        result, failed = _measure(library, encoder, captions, captions_csv, as_json)
    if as_json:
        click.echo(json.dumps({**result, "failed": failed}))
    else:
        click.echo(_render(result))
    if failed:
        sys.exit(EXIT_FAILED_FILES)


@contextmanager
def _eval_library(obj: Context):
    """The library given with --library/--db-url on the command line, else a temporary one
    removed afterwards. Their environment variables are ignored: they name the user's archive,
    whose other videos would compete with the benchmark's."""
    from storage.library import Library

    group = click.get_current_context().find_root()
    typed = {
        name: group.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        for name in ("library_dir", "db_url")
    }
    if any(typed.values()):
        db_url = obj.db_url if typed["db_url"] else None
        with Library.open(obj.library_dir, db_url=db_url) as library:
            yield library
        return
    with tempfile.TemporaryDirectory(prefix="clipdex-eval-") as folder:
        with Library.open(Path(folder)) as library:
            yield library


def _refuse_other_videos(library, files: list[Path], captions_csv: Path) -> None:
    """Other videos in the library would compete with the benchmark's and change its ranks."""
    from storage import repository as repo

    with library.session() as session:
        indexed, _, failed = repo.counts(session=session)
        ours = sum(1 for f in files if repo.get_video_by_path(str(f), session=session) is not None)
    if indexed + failed > ours:
        raise ClipdexError(
            f"{library.folder} holds {indexed + failed - ours} videos that {captions_csv} does "
            "not name; evaluate in an empty library (leave out --library for a temporary one)"
        )


def _index(library, files: list[Path], binding: tuple, *, batch_clips: int, bar: bool):
    """Index the benchmark's videos exactly as ``clipdex index FILE...`` does; ``binding`` is
    (model, quantize, min_clip, max_clip, shot_threshold) as ``bind_encoder`` takes them."""
    from clipdex.device import default_batch_clips
    from indexer.decode_process import prepare
    from indexer.pipeline import Indexer
    from indexer.run_report import IndexObserver

    prepare()  # the decoder's process server starts while the model loads
    encoder, settings = bind_encoder(library, *binding)
    batch_clips = batch_clips or default_batch_clips(encoder.device)
    observer = IndexObserver()
    if bar:
        from clipdex.progress import BarObserver

        observer = BarObserver()
    try:
        Indexer(library, encoder, settings, batch_clips=batch_clips, observer=observer).run(files)
    finally:
        if hasattr(observer, "close"):
            observer.close()
    return encoder


def _measure(library, encoder, captions, captions_csv: Path, as_json: bool):
    """Search every caption whose video is indexed; returns (result, failed videos)."""
    from search.evaluation import MODES, Query, evaluate
    from search.metrics import moment_metrics, video_metrics
    from storage import repository as repo
    from storage.models import STATUS_INDEXED

    failed: dict[str, str] = {}
    with library.session() as session:
        for caption in captions:
            video = repo.get_video_by_path(str(caption.path), session=session)
            if video is None or video.status != STATUS_INDEXED:
                failed[str(caption.path)] = video.error if video else "not indexed"
        videos, clips, _ = repo.counts(session=session)
    usable = [c for c in captions if str(c.path) not in failed]
    if not usable:
        raise ClipdexError(f"{captions_csv}: none of its videos could be indexed")
    queries = [Query(str(c.path), c.text, c.span) for c in usable]
    with _caption_bar(len(queries), enabled=not as_json and sys.stderr.isatty()) as step:
        outcomes = evaluate(library, encoder, queries, on_query=step)
    moments = usable[0].span is not None
    result = {
        "captions": str(captions_csv),
        "model": library.settings.model_id,
        "queries": len(queries),
        "videos": videos,
        "clips": clips,
        "video_retrieval": {
            m: video_metrics([o.rank for o in outcomes[m]]).to_json() for m in MODES
        },
        "moment_retrieval": (
            {m: _rounded(moment_metrics([o.best_iou for o in outcomes[m]])) for m in MODES}
            if moments
            else None
        ),
        "per_query": [_per_query(c, i, outcomes, moments) for i, c in enumerate(usable)],
    }
    return result, [{"path": p, "error": e} for p, e in failed.items()]


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in metrics.items()}


def _per_query(caption, index: int, outcomes, moments: bool) -> dict:
    item = {
        "line": caption.line,
        "video": caption.video,
        "caption": caption.text,
        "rank": {mode: outcomes[mode][index].rank for mode in outcomes},
    }
    if moments:
        item["start"], item["end"] = caption.span
        item["best_iou"] = {
            mode: {f"top{n}": round(v, 4) for n, v in outcomes[mode][index].best_iou.items()}
            for mode in outcomes
        }
    return item


@contextmanager
def _caption_bar(total: int, *, enabled: bool):
    """A tqdm bar over the captions on an interactive stderr; yields the per-caption step."""
    if not enabled:
        yield lambda: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="caption", file=sys.stderr, dynamic_ncols=True) as bar:
        yield lambda: bar.update(1)


def _render(result: dict) -> str:
    modes = list(MODE_TITLES)
    video = result["video_retrieval"]
    rows = [(label, *(f"{video[m][key]:.1f}" for m in modes)) for label, key in VIDEO_ROWS]
    rows.append(("median rank", *(f"{video[m]['median_rank']:g}" for m in modes)))
    rows.append(("mean rank", *(f"{video[m]['mean_rank']:.1f}" for m in modes)))
    moment = result["moment_retrieval"]
    if moment is not None:
        for name in moment[modes[0]]:
            n, t = name[1:].split("_iou")
            rows.append((f"moment R@{n} IoU {t}", *(f"{moment[m][name]:.1f}" for m in modes)))
    headers = ("metric", *(MODE_TITLES[m] for m in modes))
    # table() never pads its last column; numbers read best right-aligned in every column
    last = max(len(r[-1]) for r in [headers, *rows])
    rows = [(*r[:-1], r[-1].rjust(last)) for r in rows]
    heading = (
        f"{result['queries']} captions, {result['videos']} videos, {result['clips']} clips; "
        f"model {result['model']}"
    )
    return heading + "\n" + table((*headers[:-1], headers[-1].rjust(last)), rows, right={1})
