"""What the routes share, kept on ``app.state`` and handed to them as a FastAPI dependency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from clipdex.server.thumbnails import Thumbnails
from search.text import TextEncoder
from storage.library import Library


@dataclass
class Served:
    """The library, the lazily loaded encoder and the thumbnail cache of one app."""

    library: Library
    load_encoder: Callable[[], TextEncoder]
    thumbnails: Thumbnails
    # One text search at a time: the model already uses every core for one query, and a
    # Hugging Face fast tokenizer must not be called from two threads at once.
    model_lock: threading.Lock = field(default_factory=threading.Lock)
    _encoder: TextEncoder | None = None

    def encoder(self) -> TextEncoder:
        """The encoder, loaded on first use; call with ``model_lock`` held."""
        if self._encoder is None:
            self._encoder = self.load_encoder()
        return self._encoder


def _served(request: Request) -> Served:
    return request.app.state.served


Shared = Annotated[Served, Depends(_served)]
