"""The ``clipdex`` command line: the composition root.

It builds the library and the encoder and hands them to ``indexer`` and ``search``; it alone
turns typed errors into one-line messages and exit codes (see the table in docs/commands.md:
0 ok, 1 some files failed, 2 usage or configuration error, 3 the library could not be written,
130 interrupted). Heavy imports (torch, transformers) happen only inside the commands that need the
model, so ``clipdex --help`` stays fast.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from clipdex.locations import default_library_dir

logger = logging.getLogger("clipdex")

EXIT_FAILED_FILES = 1
EXIT_USAGE = 2
EXIT_CANNOT_WRITE = 3  # disk full, or a read-only library folder or database
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
# "torch" makes text searches load the torch model even where an ONNX query model exists.
QUERY_MODEL_ENV = "CLIPDEX_QUERY_MODEL"


class ClipdexError(click.ClickException):
    """A problem the user can fix: one line on stderr, exit 2 (or ``exit_code``)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"clipdex: error: {self.format_message()}", err=True)


def usage_line(exc: click.UsageError) -> str:
    """Click's usage error as one line, with where to read more:
    ``invalid value for '-k': 0 is not in the range x>=1 (see clipdex search --help)``."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    if message[:2].istitle():  # "Invalid value", "Missing argument"; leave "TEXT ..." alone
        message = message[0].lower() + message[1:]
    # The path without the program's name as invoked (``python -m clipdex``, CliRunner's "cli").
    words = exc.ctx.command_path.split()[1:] if exc.ctx is not None else []
    return f"{message} (see {' '.join(['clipdex', *words])} --help)"


class ClipdexGroup(click.Group):
    """The group whose errors all look alike: ``clipdex: error: ...`` on one line, exit 2.

    Click prints usage errors as a "Usage:" block and "Error: ..."; doing it here rather than in
    ``main`` gives CliRunner (the tests) exactly what a user sees. Commands named in
    ``lazy_commands`` (``clipdex.commands.register_lazily``) are imported when first asked for.
    """

    lazy_commands: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            from clipdex.commands import load

            command = load(cmd_name)
            self.add_command(command, cmd_name)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # Click suggests close names from the commands already loaded: offer them all.
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            if not standalone_mode:
                raise
            exc.show()  # plain ``clipdex``: the help, on stderr
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            if not standalone_mode:
                raise
            click.echo(f"clipdex: error: {usage_line(exc)}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            if not standalone_mode:
                raise
            # The video in progress was one open transaction: it is rolled back, the rest is kept.
            click.echo("clipdex: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


class Context:
    """What every command shares: where the library is and how to open it."""

    def __init__(self, library_dir: Path, db_url: str | None, debug: bool) -> None:
        self.library_dir = library_dir
        self.db_url = db_url
        self.debug = debug
        self._library = None
        self._catalog = None

    def library(self):
        from storage.library import Library

        if self._library is None:
            self._library = Library.open(self.library_dir, db_url=self.db_url)
        return self._library

    def catalog(self):
        """What a search reads through (a ``search.catalog.Catalog``): a SQLite library read
        with the standard library's sqlite3 when it can be (``storage.sqlite_reader``: no
        SQLAlchemy to import), else the Library."""
        if self._catalog is None:
            if self.db_url is None:
                from storage.sqlite_reader import SqliteReader

                self._catalog = SqliteReader.open(self.library_dir)
            self._catalog = self._catalog or self.library()
        return self._catalog

    def close(self) -> None:
        if self._catalog is not None and self._catalog is not self._library:
            self._catalog.close()
        if self._library is not None:
            self._library.close()


def indexed_video(file: Path, session):
    """The library's row of ``file``, indexed; else one error line saying why not."""
    from storage import repository as repo

    video = repo.get_video_by_path(str(file.absolute()), session=session)
    if video is None:
        raise ClipdexError(f"{file}: not in the library (run clipdex index first)")
    if video.status != "indexed":
        raise ClipdexError(f"{file}: indexing failed: {video.error}")
    return video


def typed_errors(func: Callable) -> Callable:
    """Turn the library's typed errors into one-line messages (tracebacks only with --debug)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from clipdex.device import DeviceError
        from clipdex.model_errors import ModelLoadError
        from clipdex.speech_model import SpeechModelError
        from indexer.errors import VideoOpenError
        from storage.errors import LibraryWriteError, StorageError

        ctx = click.get_current_context().find_object(Context)
        try:
            return func(*args, **kwargs)
        except LibraryWriteError as exc:
            if ctx and ctx.debug:
                raise
            raise ClipdexError(str(exc), EXIT_CANNOT_WRITE) from exc
        except (
            DeviceError,
            ModelLoadError,
            SpeechModelError,
            StorageError,
            VideoOpenError,
            ValueError,
        ) as exc:
            if ctx and ctx.debug:
                raise
            raise ClipdexError(str(exc)) from exc
        finally:
            if ctx:
                ctx.close()

    return wrapper


def json_option(func: Callable) -> Callable:
    """``--json``: machine-readable output on stdout, no progress display."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(func)


def model_option(func: Callable) -> Callable:
    return click.option(
        "--model",
        "model",
        envvar="CLIPDEX_MODEL",
        default=None,
        metavar="ID_OR_DIR",
        help="X-CLIP checkpoint: a Hugging Face id or a local folder "
        "[default: the library's model, else microsoft/xclip-base-patch32].",
    )(func)


@click.group(cls=ClipdexGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--library",
    "library_dir",
    envvar="CLIPDEX_LIBRARY",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Library folder [default: $XDG_DATA_HOME/clipdex].",
)
@click.option(
    "--db-url", envvar="CLIPDEX_DB_URL", default=None, help="SQLAlchemy URL for the metadata."
)
@click.option("--debug", is_flag=True, help="Verbose logs and full tracebacks.")
@click.version_option(package_name="clipdex")
@click.pass_context
def cli(ctx: click.Context, library_dir: Path | None, db_url: str | None, debug: bool) -> None:
    """Semantic video search: index videos, then find clips by describing them."""
    _configure_logging(debug)
    ctx.obj = Context((library_dir or default_library_dir()).expanduser(), db_url, debug)


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("clipdex: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not debug:
        # huggingface_hub retries an unreachable hub with warnings; our one error line suffices.
        for noisy in ("huggingface_hub", "transformers", "urllib3", "filelock", "alembic"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def batch_option(func: Callable) -> Callable:
    """``--batch N``: clips per forward pass of the video tower (``index`` and ``watch``)."""
    return click.option(
        "--batch",
        "batch_clips",
        type=int,
        default=None,
        help="Clips per forward pass [default: 8 on a CPU, 32 on CUDA, 16 on MPS].",
    )(func)


def device_option(func: Callable) -> Callable:
    """``--device auto|cpu|cuda[:N]|mps``: where the model runs (``index`` and ``watch``)."""

    def check(ctx, param, value: str) -> str:
        from clipdex.device import DeviceError, check_device_name

        try:
            return check_device_name(value)
        except DeviceError as exc:
            raise click.BadParameter(str(exc)) from exc

    return click.option(
        "--device",
        envvar="CLIPDEX_DEVICE",
        default="auto",
        show_default=True,
        callback=check,
        help="Where the model runs: auto (CUDA if available, else the CPU), cpu, cuda[:N], "
        "mps. Decoding stays on the CPU.",
    )(func)


def quantize_option(func: Callable) -> Callable:
    """``--quantize int8``: dynamic int8 video and text towers (faster, cosine ~0.99 of fp32)."""
    return click.option(
        "--quantize",
        type=click.Choice(["int8", "none"]),
        envvar="CLIPDEX_QUANTIZE",
        default="none",
        show_default=True,
        help="Run the video and text towers in dynamic int8 (about 1.5x faster on CPU).",
    )(func)


def load_encoder(model: str | None, library, quantize: str = "none", device: str = "cpu") -> object:
    """The encoder for ``model`` (else the library's, else the default).

    A model named for a bound library is checked against it by what it is (config and weights,
    hashed once per file and cached), before the slow load when its files are already here, so
    a copy of the library's model under another path or name is accepted. Without ``model``
    the library's own id is used unchecked: a search need not fingerprint anything.
    """
    from clipdex.encoder import DEFAULT_MODEL, XClipEncoder
    from clipdex.model_identity import model_digest, resolve_model_id

    held = library.settings
    wanted = resolve_model_id(model) if model else (held.model_id if held else DEFAULT_MODEL)
    check = held is not None and model is not None
    digest = model_digest(wanted) if check else None
    if check and digest is not None:
        library.check_model(wanted, digest)
    encoder = XClipEncoder(wanted, quantize=None if quantize == "none" else quantize, device=device)
    if check and digest is None:  # a hub id fetched just now: its files are here only now
        library.check_model(wanted, model_digest(wanted))
    return encoder


def query_model_allowed() -> bool:
    """False when ``CLIPDEX_QUERY_MODEL=torch``: search with torch, and write no query model
    (neither after ``index`` nor after a search)."""
    return os.environ.get(QUERY_MODEL_ENV, "").lower() != "torch"


def load_text_encoder(
    model: str | None, library, quantize: str = "none", timings=None, *, prepack: bool = False
):
    """The encoder a text search needs, and what to run once the results are out.

    With an exported query model for the library's model (``clipdex.query_model``) this is
    the ONNX one (its int8 text tower for ``--quantize int8``), and neither torch nor
    transformers is imported: a cold search costs a fraction of a second. Otherwise (no export
    yet, a library whose model identity is unknown, or ``CLIPDEX_QUERY_MODEL=torch``) it is the
    torch encoder, and the second value writes the export for the next search (None when there
    is nothing to write: an int8 torch encoder cannot write it).
    ``timings`` (a ``clipdex.timings.Timings``) records the "import" and "load" stages;
    ``prepack`` is for a long-lived process (``clipdex.query_model.QueryModel`` says why).
    """
    from clipdex.model_identity import model_digest, resolve_model_id
    from clipdex.query_model import QueryModel, QueryModelError, find_query_model
    from clipdex.timings import Timings

    timings = timings or Timings()
    held = library.settings
    digest = held.model_digest if held is not None else None
    fast = quantize in ("none", "int8") and query_model_allowed()
    if fast and digest and model is not None:
        # A named model must be the library's (as load_encoder checks): then the library's
        # export is its export. A hub id not downloaded here has no digest: torch decides.
        named = model_digest(resolve_model_id(model))
        if named is None:
            digest = None
        else:
            library.check_model(resolve_model_id(model), named)
    folder = find_query_model(library.folder, digest) if fast else None
    if folder is not None:
        with timings.stage("import"):
            import onnxruntime  # noqa: F401 - timed apart from loading the graphs
            import tokenizers  # noqa: F401
        try:
            with timings.stage("load"):
                wanted = None if quantize == "none" else quantize  # as load_encoder passes it
                return QueryModel(folder, prepack=prepack, quantize=wanted), None
        except QueryModelError as exc:
            again = " and writing it again" if quantize == "none" else ""
            logger.warning("%s; searching with torch%s", exc, again)
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    with timings.stage("import"):
        import torch  # noqa: F401 - timed apart from loading the model
        import transformers  # noqa: F401
    with timings.stage("load"):
        encoder = load_encoder(model, library, quantize)
    if not (fast and digest) or quantize != "none":
        return encoder, None
    return encoder, functools.partial(_export_query_model, encoder, library, digest)


def _export_query_model(encoder, library, digest: str) -> None:
    """Write the library's query model from ``encoder``, if it is that very model."""
    from clipdex.model_identity import model_digest
    from clipdex.query_export import ensure_query_model

    if model_digest(encoder.model_id) != digest:
        logger.info("the model's files are not the library's model: no query model written")
        return
    ensure_query_model(encoder, library.folder, digest)


def build_cli() -> click.Group:
    """The ``clipdex`` group with every command registered (tests use it with CliRunner)."""
    from clipdex.commands import register

    register(cli)
    return cli


def main() -> None:
    from clipdex.commands import register_lazily

    register_lazily(cli)  # a command's imports are paid only when it runs
    app = cli
    try:
        app.main(prog_name="clipdex")
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks
        if "--debug" in sys.argv:
            raise
        click.echo(f"clipdex: internal error: {exc!r} (run with --debug for details)", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":  # pragma: no cover
    main()
