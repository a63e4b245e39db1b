"""``clipdex serve``: the web page and HTTP API on a local port, until Ctrl-C."""

from __future__ import annotations

import click

from clipdex.cli import ClipdexError, Context, _typed_errors, load_encoder, model_option


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
@_typed_errors
def command(obj: Context, host: str, port: int, token: str | None, model: str | None) -> None:
    """Serve the search page and the JSON API (docs at /docs)."""
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
    import uvicorn

    from clipdex.server.app import create_app

    library = obj.library()
    app = create_app(library, lambda: load_encoder(model, library), token=token)
    shown = f"[{host}]" if ":" in host else host
    suffix = "/?token=..." if token else "/"
    click.echo(
        f"clipdex: serving {library.folder} on http://{shown}:{port}{suffix} (Ctrl-C stops)",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
