"""``clipdex serve``: the web page and HTTP API on a local port, until Ctrl-C."""

from __future__ import annotations

import socket
import threading

import click

from clipdex.cli import (
    ClipdexError,
    Context,
    load_text_encoder,
    model_option,
    query_model_allowed,
    typed_errors,
)
from clipdex.stopping import StopRequest


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--token",
    envvar="CLIPDEX_TOKEN",
    default=None,
    help="Secret every request must carry (required when --host is not loopback).",
)
@model_option
@click.pass_obj
@typed_errors
def command(obj: Context, host: str, port: int, token: str | None, model: str | None) -> None:
    """Serve the search page and the JSON API (docs at /docs)."""
    # First thing, before the heavy imports: SIGINT or SIGTERM at any moment stops it with
    # exit 0 (during start-up at once: StopRequest swallows the KeyboardInterrupt).
    with StopRequest() as stop:
        _serve(obj, host, port, token, model, stop)


def _serve(
    obj: Context, host: str, port: int, token: str | None, model: str | None, stop: StopRequest
) -> None:
    from clipdex.server import security

    if token is not None and not security.TOKEN_PATTERN.fullmatch(token):
        raise ClipdexError(
            "--token must be at least 16 characters of A-Z a-z 0-9 . _ ~ - "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    if token is None and not security.is_loopback(host):
        raise ClipdexError(
            f"--host {host} is reachable from other machines: also give --token (or CLIPDEX_TOKEN)"
        )
    # Listen first: a busy port is one error line at once, never a "serving" claim. Requests
    # that come while the app loads wait in the socket's backlog.
    with _listen(host, port) as listener:
        import uvicorn

        from clipdex.server.app import create_app

        library = obj.library()
        # The ONNX query model when the library has one: the first search skips torch too.
        app = create_app(
            library, lambda: load_text_encoder(model, library, prepack=True)[0], token=token
        )
        warm_up(app.state.served, model)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        )
        shown = f"[{host}]" if ":" in host else host
        suffix = "/?token=..." if token else "/"
        # From here a signal lets uvicorn shut down cleanly, also one that comes before uvicorn
        # installs its own handlers; uvicorn passes those it caught back to these when it ends.
        stop.started()
        stop.on_stop(lambda: setattr(server, "should_exit", True))
        click.echo(
            f"clipdex: serving {library.folder} on http://{shown}:{port}{suffix} (Ctrl-C stops)",
            err=True,
        )
        server.run(sockets=[listener])


def warm_up(served, model: str | None) -> threading.Thread | None:
    """Load the library's ONNX query model in the background, so that the first search is as
    fast as the next ones (``Served.warm_up``); the thread, or None where there is nothing to
    load cheaply. Loading torch instead (no export yet, ``CLIPDEX_QUERY_MODEL=torch``, or a
    model named with --model, which would be fingerprinted) is left to the first search:
    seconds of CPU and gigabytes of memory for a server that may never search."""
    from clipdex.query_model import find_query_model

    settings = served.library.settings
    digest = settings.model_digest if settings is not None else None
    if model is not None or not query_model_allowed():
        return None
    if find_query_model(served.library.folder, digest) is None:
        return None
    # Not a daemon: a server stopped during the load waits for it (under a second) before it
    # exits; an interpreter that exits while ONNX Runtime builds a session aborts (SIGABRT).
    thread = threading.Thread(target=served.warm_up, name="clipdex-warm-up", daemon=False)
    thread.start()
    return thread


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening (IPv6 for an address with a colon, as
    uvicorn does), or ClipdexError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        reason = exc.strerror or str(exc)
        raise ClipdexError(
            f"cannot listen on {host}:{port}: {reason[:1].lower()}{reason[1:]}"
        ) from exc
    return listener
