"""What the routes share, kept on ``app.state`` and handed to them as a FastAPI dependency."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from clipdex.server.thumbnails import Thumbnails
from search.text import TextEncoder
from storage.library import Library

logger = logging.getLogger(__name__)


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

    def warm_up(self) -> None:
        """Load the encoder and run its text tower once, as a first search would (ONNX
        Runtime sets up its kernels on a session's first run). A search that comes meanwhile
        waits for it under the lock; a failure is left for that search to report."""
        with self.model_lock:
            try:
                self.encoder().encode_text("warm up")
            except Exception as exc:  # noqa: BLE001 - any load error: the search says it
                logger.debug("warming up the encoder failed: %s", exc)


def _served(request: Request) -> Served:
    return request.app.state.served


Shared = Annotated[Served, Depends(_served)]
