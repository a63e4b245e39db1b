"""``clipdex watch PATH...``: keep the library equal to what is in some folders until stopped.

The first SIGINT or SIGTERM lets the video in progress finish and commit, then stops; a second
one abandons it (its transaction rolls back, so the library holds it whole or not at all).
Either way the FAISS cache is saved and the exit status is 0. A signal while it starts (imports,
opening the library, loading the model) stops it at once, also with 0 (clipdex/stopping.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from clipdex.binding import bind_encoder
from clipdex.cli import (
    ClipdexError,
    Context,
    batch_option,
    device_option,
    json_option,
    model_option,
    quantize_option,
    typed_errors,
)
from clipdex.speech_binding import speech_model_option, text_stage
from clipdex.stopping import StopRequest
from indexer.settle import DEFAULT_SETTLE_S


@click.command("watch")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@click.option(
    "--settle",
    "settle_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_SETTLE_S,
    show_default=True,
    metavar="SECONDS",
    help="Index a file once its size and mtime were unchanged this long.",
)
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Poll the folders every SECONDS instead of using inotify (network file systems).",
)
@click.option(
    "--prune-missing",
    is_flag=True,
    help="Prune the videos under a folder that is empty (by default an empty folder that the "
    "library holds videos under is taken for a share that is not mounted).",
)
@speech_model_option
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
    settle_s: float,
    poll_s: float | None,
    batch_clips: int | None,
    device: str,
    quantize: str,
    prune_missing: bool,
    as_json: bool,
    speech_model: str | None,
) -> None:
    """Watch folders and index changes as they happen, until SIGINT or SIGTERM."""
    # First thing, before the heavy imports and the model load. A signal during start-up, or a
    # second one, abandons the work in progress (StopRequest swallows the KeyboardInterrupt):
    # exit 0 either way.
    with StopRequest() as stop:
        try:
            _watch(
                obj,
                paths,
                model,
                settle_s,
                poll_s,
                batch_clips,
                device,
                quantize,
                prune_missing,
                as_json,
                stop,
                speech_model,
            )
        except BaseException as exc:
            if as_json and not stop.running and stop.caused(exc):
                click.echo(json.dumps({"event": "stopped"}))  # the watcher never ran to say it
            raise


def _watch(
    obj: Context,
    paths: tuple[Path, ...],
    model: str | None,
    settle_s: float,
    poll_s: float | None,
    batch_clips: int | None,
    device: str,
    quantize: str,
    prune_missing: bool,
    as_json: bool,
    stop: StopRequest,
    speech_model: str | None = None,
) -> None:
    from clipdex.device import default_batch_clips
    from clipdex.watchlog import EventPrinter
    from indexer.decode_process import prepare
    from indexer.pipeline import Indexer
    from indexer.watch import Watcher

    library = obj.library()
    roots = [path.absolute() for path in paths]
    _check_roots(roots, library)
    prepare()  # the decoder's process server starts while the model loads
    encoder, settings = bind_encoder(library, model, quantize, device=device)
    batch_clips = batch_clips or default_batch_clips(encoder.device)
    text = text_stage(library, speech_model=speech_model)  # speech as the library remembers
    printer = EventPrinter(as_json, roots)
    indexer = Indexer(
        library, encoder, settings, batch_clips=batch_clips, observer=printer, text=text
    )
    watcher = Watcher(
        indexer,
        roots,
        settle_s=settle_s,
        poll_s=poll_s,
        observer=printer,
        prune_missing=prune_missing,
    )
    stop.started()  # from here the watcher finishes the video in progress, then says "stopped"
    watcher.run(stop.event)


def _check_roots(roots: list[Path], library) -> None:
    """Roots must be folders. A missing one is accepted only if the library holds videos under
    it (a share not mounted yet); otherwise it is most likely a typo."""
    from storage import repository as repo

    for root in roots:
        if root.is_dir():
            continue
        if root.exists():
            raise ClipdexError(f"{root}: watch needs folders, not files")
        with library.session() as session:
            if not repo.videos_under([str(root)], session=session):
                raise ClipdexError(f"{root}: no such folder")
