"""``clipdex index PATH...``: index files and folders, prune vanished files under them."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from clipdex.binding import bind_encoder
from clipdex.cli import (
    EXIT_CANNOT_WRITE,
    EXIT_FAILED_FILES,
    ClipdexError,
    Context,
    batch_option,
    device_option,
    json_option,
    model_option,
    quantize_option,
    query_model_allowed,
    typed_errors,
)
from clipdex.render import plural
from clipdex.speech_binding import speech_options, text_stage, worker_speech


@click.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@click.option("--min-clip", type=float, default=None, help="Shortest clip in seconds [2.0].")
@click.option("--max-clip", type=float, default=None, help="Longest clip in seconds [10.0].")
@click.option("--shot-threshold", type=float, default=None, help="Cut sensitivity [27.0].")
@click.option(
    "--prune-missing",
    is_flag=True,
    help="Also prune the videos under a PATH that is empty or missing (by default they are "
    "kept: that is what a share that is not mounted looks like).",
)
@speech_options
@click.option(
    "--ray",
    "ray_address",
    metavar="auto|ADDRESS",
    envvar="CLIPDEX_RAY",
    default=None,
    help="Decode and embed on a Ray cluster (pip install 'clipdex[ray]'): auto joins the "
    "cluster `ray start` runs here (else starts a local one), or give its address. Every node "
    "must read the files at the same paths. See docs/cluster.md.",
)
@click.option(
    "--ray-actors",
    type=click.IntRange(min=1),
    default=None,
    help="Model actors on the cluster [default: one per GPU, else about 3/4 of its CPUs].",
)
@click.option(
    "--rehash",
    is_flag=True,
    help="Also recompute the frame hashes of videos under PATH hashed by an older clipdex "
    "(what `dedup` needs to see flips, crops and insets), without embedding them again.",
)
@batch_option
@device_option
@quantize_option
@json_option
@click.pass_obj
@typed_errors
def command(
    obj: Context,
    paths: tuple[Path, ...],
    model: str | None,
    quantize: str,
    min_clip: float | None,
    max_clip: float | None,
    shot_threshold: float | None,
    batch_clips: int | None,
    device: str,
    ray_address: str | None,
    ray_actors: int | None,
    prune_missing: bool,
    rehash: bool,
    as_json: bool,
    speech: bool,
    speech_always: bool,
    no_speech: bool,
    speech_model: str | None,
) -> None:
    """Index videos in PATH... (files or folders)."""
    from clipdex.device import default_batch_clips
    from clipdex.query_export import ensure_query_model
    from indexer.decode_process import prepare
    from indexer.pipeline import Indexer
    from indexer.run_report import IndexObserver, IndexReport
    from storage.errors import LibraryWriteError

    report = IndexReport()
    rehashed: int | None = None
    try:
        library = obj.library()
        _check_roots(paths, library)
        prepare()  # the decoder's process server starts while the model loads
        encoder, settings = bind_encoder(
            library, model, quantize, min_clip, max_clip, shot_threshold, device
        )
        text = text_stage(
            library,
            speech=speech,
            speech_always=speech_always,
            no_speech=no_speech,
            speech_model=speech_model,
        )
        batch_clips = batch_clips or default_batch_clips(encoder.device)
        observer = IndexObserver()
        if not as_json and sys.stderr.isatty():
            from clipdex.progress import BarObserver

            observer = BarObserver()
        speech_on_workers = worker_speech(text) if ray_address is not None else None
        with _executor(
            ray_address, ray_actors, encoder, settings, batch_clips, device, speech_on_workers
        ) as run:
            try:
                Indexer(
                    library,
                    encoder,
                    settings,
                    batch_clips=batch_clips,
                    observer=observer,
                    executor=run,
                    text=text,
                ).run(paths, report, prune_missing=prune_missing)
            finally:
                if hasattr(observer, "close"):
                    observer.close()
        if rehash:
            from indexer.rehash import rehash_videos

            redone = rehash_videos(library, paths)
            rehashed = redone.rehashed
            report.failed += redone.failed
        if query_model_allowed():
            # torch is loaded now: write what lets the next searches run without it (once per
            # model).
            ensure_query_model(encoder, library.folder, settings.model_digest)
    except LibraryWriteError as exc:
        # What was committed before stays whole; say what it was, then why the run stopped.
        _print_report(report, as_json, error=str(exc))
        done = f"{report.indexed} video{'' if report.indexed == 1 else 's'}"
        raise ClipdexError(
            f"{exc}: indexing stopped; {done} indexed before it", EXIT_CANNOT_WRITE
        ) from exc
    _print_report(report, as_json, rehashed=rehashed)
    if report.failed:
        sys.exit(EXIT_FAILED_FILES)


@contextmanager
def _executor(address, actors, encoder, settings, batch_clips, device, speech) -> Iterator:
    """The Ray executor for ``--ray ADDRESS`` (None without it: the local executor); its model
    actors load the driver's checkpoint, on GPUs where the cluster has them unless
    ``--device cpu``; its decode tasks recognise speech with ``speech`` (a factory)."""
    if address is None:
        yield None
        return
    try:
        from indexer import ray_executor
    except ImportError as exc:
        raise ClipdexError(f"--ray needs Ray: pip install 'clipdex[ray]' ({exc})") from exc
    from clipdex.encoder import XClipEncoder
    from indexer.sampling import SamplingPlan

    try:
        started = ray_executor.connect(address)
    except ray_executor.RayUnavailableError as exc:
        raise ClipdexError(str(exc)) from exc
    quantize = getattr(encoder, "quantize", None)
    try:
        executor = ray_executor.RayExecutor(
            functools.partial(XClipEncoder, encoder.model_id, quantize=quantize),
            SamplingPlan.for_library(encoder, settings),
            batch_clips=batch_clips,
            actors=actors,
            use_gpus=device != "cpu",
            speech=speech,
        )
    except BaseException:
        if started:
            ray_executor.disconnect()
        raise
    try:
        yield executor
    finally:
        executor.shutdown()
        if started:
            ray_executor.disconnect()


def _check_roots(paths: tuple[Path, ...], library) -> None:
    """A path that does not exist is a usage error, unless the library holds videos at or
    under it (a file that was deleted, or a share that is not mounted)."""
    from storage import repository as repo

    for path in paths:
        if path.exists():
            continue
        with library.session() as session:
            if not repo.count_videos_under([str(path.absolute())], session=session):
                raise ClipdexError(f"{path}: no such file or folder")


def _print_report(
    report, as_json: bool, error: str | None = None, rehashed: int | None = None
) -> None:
    """The summary on stdout; ``error`` says why the run stopped early (then in the JSON);
    ``rehashed``: videos given new frame hashes (``--rehash``)."""
    failed = [{"path": p, "error": e} for p, e in report.failed]
    partial = [{"path": p, "error": e} for p, e in report.partial]
    kept = [{"path": p, "videos": n} for p, n in sorted(report.unavailable.items())]
    for root in kept:
        click.echo(
            f"clipdex: kept {root['videos']} videos under {root['path']}: it is empty or "
            "missing (a share that is not mounted?); --prune-missing prunes them",
            err=True,
        )
    if as_json:
        payload = {
            "indexed": report.indexed,
            "skipped": report.skipped,
            "moved": report.moved,
            "removed": report.removed,
            "clips_added": report.clips_added,
            "failed": failed,
            "partial": partial,
            "kept_unavailable": kept,
            "transcribed": report.transcribed,
            "notes": [{"path": p, "note": n} for p, n in report.notes],
        }
        if rehashed is not None:
            payload["rehashed"] = rehashed
        click.echo(json.dumps(payload | ({"error": error} if error else {})))
        return
    # Each failure and partial file was already logged on stderr as it happened; the summary
    # only counts them.
    of_them = f" ({len(partial)} partial)" if partial else ""
    heard = f"; {report.transcribed} transcribed" if report.transcribed else ""
    click.echo(
        f"indexed {report.indexed}{of_them}, skipped {report.skipped}, moved {report.moved}, "
        f"removed {report.removed}; {plural(report.clips_added, 'clip')} added{heard}; "
        f"{len(failed)} failed" + ("" if rehashed is None else f"; {rehashed} rehashed")
    )
