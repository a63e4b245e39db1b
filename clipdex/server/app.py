"""The FastAPI application: JSON API, media streaming, thumbnails and the page.

``create_app`` is given an open library and a function that loads the text encoder, and keeps
them in a ``Served`` (``clipdex.server.state``) on ``app.state`` for the routes (``clipdex.server.api`` for JSON,
``clipdex.server.media`` for files). The encoder is loaded on the first text search (or, for
a library with an ONNX query model, in the background as ``clipdex serve`` starts:
``Served.warm_up``): status, media, thumbnails and similar clips need no model. Every request reads the database
afresh and ``Library.vectors()`` catches up with commits from other processes, so videos
indexed by ``clipdex watch`` show up without a restart. Handlers are plain ``def``: Starlette
runs them in its thread pool, which suits the blocking SQLite, FAISS and PyAV calls.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from clipdex.server import api, media, security, upload
from clipdex.server.docs import add_docs
from clipdex.server.state import Served
from clipdex.server.thumbnails import THUMBS_DIRNAME, Thumbnails
from search.text import TextEncoder
from storage.library import Library

STATIC = Path(str(resources.files("clipdex.server") / "static"))


def create_app(
    library: Library,
    load_encoder: Callable[[], TextEncoder],
    *,
    token: str | None = None,
) -> FastAPI:
    """The application over ``library``. With ``token`` every request must carry it; without,
    only loopback Host names are accepted (see ``security.Guard``)."""
    app = FastAPI(
        title="clipdex",
        summary="Semantic video search over a clipdex library",
        version="0.1.0",
        docs_url=None,  # add_docs serves them from local assets
        redoc_url=None,
    )
    app.state.served = Served(library, load_encoder, Thumbnails(library.folder / THUMBS_DIRNAME))
    app.add_middleware(security.Guard, token=token)
    app.include_router(api.router)
    app.include_router(upload.router)
    app.include_router(media.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_docs(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:  # browsers ask for it even where the page links the SVG
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    return app
