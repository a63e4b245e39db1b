"""The library's speech setting, chosen on the command line and remembered: shared by ``index``
(which may change it) and ``watch`` (which uses it). Builds the indexer's text stage."""

from __future__ import annotations

from collections.abc import Callable

import click

from clipdex.speech_model import DEFAULT_SPEECH_MODEL, SPEECH_MODEL_ENV


def speech_model_option(func: Callable) -> Callable:
    return click.option(
        "--speech-model",
        envvar=SPEECH_MODEL_ENV,
        default=None,
        metavar="NAME_OR_DIR",
        help="faster-whisper model: a size (tiny, base, small, tiny.en, ...) or a local folder "
        f"[default: the library's, else {DEFAULT_SPEECH_MODEL}].",
    )(func)


def speech_options(func: Callable) -> Callable:
    """``--speech``/``--speech-always``/``--no-speech`` and ``--speech-model`` (``index``)."""
    func = speech_model_option(func)
    func = click.option(
        "--no-speech", is_flag=True, help="Turn speech recognition off for this library."
    )(func)
    func = click.option(
        "--speech-always",
        is_flag=True,
        help="Recognise speech in every file, also those with subtitles (remembered).",
    )(func)
    return click.option(
        "--speech",
        is_flag=True,
        help="Recognise speech in files without subtitles, and remember that this library "
        "does (watch too). Needs the speech extra.",
    )(func)


def text_stage(
    library,
    *,
    speech: bool = False,
    speech_always: bool = False,
    no_speech: bool = False,
    speech_model: str | None = None,
):
    """The indexer's text stage for ``library`` (bound already), with the speech mode asked for
    (else the one it remembers), loading the speech model when speech is on; the new setting is
    stored only once the model has loaded. Raises SpeechModelError, ClipdexError."""
    from clipdex.cli import ClipdexError
    from indexer.cpus import usable_cpus
    from indexer.text_sources import SPEECH_ALWAYS, SPEECH_AUTO, SPEECH_OFF, TextReader
    from indexer.text_stage import TextStage
    from storage import speech_settings
    from storage.speech_settings import SpeechSetting

    if no_speech and (speech or speech_always):
        raise ClipdexError("--no-speech cannot be combined with --speech or --speech-always")
    with library.session() as session:
        held = speech_settings.speech_setting(session=session)
    mode = held.mode
    if no_speech:
        mode = SPEECH_OFF
    elif speech_always:
        mode = SPEECH_ALWAYS
    elif speech and mode == SPEECH_OFF:
        mode = SPEECH_AUTO
    model = speech_model or held.model or DEFAULT_SPEECH_MODEL
    recognizer = None
    if mode != SPEECH_OFF:
        from clipdex.speech_model import WhisperRecognizer

        recognizer = WhisperRecognizer(model, threads=usable_cpus())
    wanted = SpeechSetting(mode, model if mode != SPEECH_OFF else held.model)
    if wanted != held:
        with library.session() as session, session.begin():
            speech_settings.set_speech_setting(wanted, session=session)
    return TextStage(TextReader(mode, recognizer))


def worker_speech(stage):
    """The speech recogniser factory for a Ray cluster's decode tasks (one model thread each,
    on the task's CPU), from the text stage's model; None when speech is off. A model folder
    is passed as an absolute path: the workers do not share this process's directory."""
    import functools
    from pathlib import Path

    from clipdex.speech_model import WhisperRecognizer

    recognizer = stage.reader.recognizer
    if not stage.reader.speech_on or not isinstance(recognizer, WhisperRecognizer):
        return None
    name = recognizer.name
    folder = Path(name).expanduser()
    if folder.is_dir():
        name = str(folder.resolve())
    return functools.partial(WhisperRecognizer, name, threads=1, vad=recognizer.vad)
