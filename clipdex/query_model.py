"""The query side of the model without torch: the text tower and the re-rank on ONNX Runtime.

A search needs only the tokenizer, the text tower and the prompt generator's folded re-rank
(``clipdex.encoder``). Importing torch and transformers for them costs about 3 s of a cold
``clipdex search``; ONNX Runtime and the ``tokenizers`` package load in a fraction of that.
``clipdex.query_export`` writes, once per model, a folder under the library::

    <library>/query-model/<model digest>/
        query-model.json   what it is: format version, model digest and id, sizes
        text.onnx          input_ids, attention_mask -> the unconditioned text embedding
        text-int8.onnx     the same in int8 (ONNX Runtime's dynamic quantization), for
                           ``--quantize int8`` searches
        rerank.onnx        text (D,), features (B, P, D), video (B, D) -> scores (B,)
        widen.onnx         float16 features -> float32, for the re-rank of stored features
        *.onnx.weights     their weights (ONNX external data)
        tokenizer.json     the checkpoint's own fast tokenizer, saved by transformers

and ``QueryModel`` runs it. The graphs are traced from the very modules the torch path runs, in
float32, so scores agree with it to float rounding (tests/clipdex/test_query_model.py).

This module imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from indexer.cpus import default_threads

logger = logging.getLogger(__name__)

FOLDER_NAME = "query-model"
MANIFEST_NAME = "query-model.json"
TEXT_GRAPH = "text.onnx"
TEXT_INT8_GRAPH = "text-int8.onnx"
RERANK_GRAPH = "rerank.onnx"
WIDEN_GRAPH = "widen.onnx"
# Each graph's weights, in a file beside it: ONNX Runtime maps such a file rather than copying
# the weights out of the graph's protobuf (0.1 s to load the full-size text tower, not 1 s).
WEIGHTS_SUFFIX = ".weights"
TOKENIZER_NAME = "tokenizer.json"
FILES = (
    TEXT_GRAPH,
    TEXT_GRAPH + WEIGHTS_SUFFIX,
    TEXT_INT8_GRAPH,
    TEXT_INT8_GRAPH + WEIGHTS_SUFFIX,
    RERANK_GRAPH,
    RERANK_GRAPH + WEIGHTS_SUFFIX,
    WIDEN_GRAPH,
    TOKENIZER_NAME,
    MANIFEST_NAME,
)
# Bumped whenever the graphs' inputs, outputs or arithmetic change: older folders are rebuilt.
# 2: the graphs as ONNX Runtime optimised them (clipdex.query_export); 3: an int8 text tower too;
# 4: the widening of float16 features, and the int8 text tower optimised at export
FORMAT_VERSION = 4
# ONNX Runtime's own threads, every usable CPU (CLIPDEX_THREADS), told not to spin while they
# wait for work. Its thread pool hands out a call's work in blocks that the calling thread takes
# too, so a descheduled worker delays a query by one block, not a whole scheduler slice as an
# OpenMP team's does (clipdex.encoder.QUERY_THREADS): on 2 cores the int8 text tower took 12.9 ms
# on 2 such threads against 16.2 on one, and 14.4 against 15.9 while another process spun on a
# core; 100 float16 candidates re-ranked in 22.9 ms against 29.6 ms in shares on single-threaded
# calls (clipdex.row_shares), and 35.3 against 46.5 ms beside the spinning process. Spinning
# workers (ONNX Runtime's default) won idle (11.4 ms for the text) and lost under load (24.9).
SPINNING = "0"


class QueryModelError(Exception):
    """An exported query model exists but cannot be used (damaged, or another version)."""


def query_model_root(library_folder: Path) -> Path:
    """The folder holding the library's exported query models (one per model digest)."""
    return Path(library_folder) / FOLDER_NAME


def query_model_folder(library_folder: Path, model_digest: str) -> Path:
    """Where the export of the model with ``model_digest`` lives for this library."""
    return query_model_root(library_folder) / model_digest


def find_query_model(library_folder: Path, model_digest: str | None) -> Path | None:
    """The complete export for ``model_digest`` under the library, or None (none yet, a
    model of unknown identity, or an export of another format version)."""
    if not model_digest:
        return None
    folder = query_model_folder(library_folder, model_digest)
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    if manifest.get("format") != FORMAT_VERSION or manifest.get("model_digest") != model_digest:
        return None
    if not all((folder / name).is_file() for name in FILES):
        return None
    return folder


class QueryModel:
    """The ``search.text.TextEncoder`` of an exported query model (see the module docstring).

    ``encode_text`` and ``rerank`` return what ``XClipEncoder``'s do. Raises QueryModelError
    when the folder's files cannot be loaded. ``prepack`` lets ONNX Runtime repack the text
    tower's weights for its matrix kernels while loading: about 0.3 s more to load the full-size
    tower, about 2x faster per query after; worth it for the server, not for one CLI search.
    ``quantize="int8"`` runs the int8 text tower (what ``--quantize int8`` asks for); the
    re-rank is float32 either way, as the torch path's (it quantizes the towers only).
    """

    def __init__(self, folder: Path, *, prepack: bool = False, quantize: str | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        try:
            manifest = json.loads((self.folder / MANIFEST_NAME).read_text())
            self.model_id: str = manifest["model_id"]
            self.model_digest: str = manifest["model_digest"]
            self.embed_dim: int = int(manifest["embed_dim"])
            max_length = int(manifest["max_length"])
            self._tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_NAME))
            self._ort = onnxruntime
            self.quantize = quantize
            text = {None: TEXT_GRAPH, "int8": TEXT_INT8_GRAPH}[quantize]
            self._text = self._session(text, prepack=prepack)
            # Small (the prompt generator only) and run a few times per search: worth packing.
            self._rerank = self._session(RERANK_GRAPH, prepack=True)
            self._widen = self._session(WIDEN_GRAPH, prepack=False)
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's errors derive from Exception only
            raise QueryModelError(f"cannot use the query model in {self.folder}: {exc}") from exc
        # What transformers does for ``tokenizer([text], padding=True, truncation=True)``: one
        # text is never padded; it is cut to the model's length, special tokens included.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)

    def _session(self, name: str, *, prepack: bool):
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = default_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", SPINNING)
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # The graph as saved: optimised once at export (clipdex.query_export.OPTIMISATION),
        # with only the passes that keep the torch path's arithmetic; optimising again here
        # would cost load time for a graph that runs once or twice.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        options.log_severity_level = 3
        return ort.InferenceSession(
            str(self.folder / name), options, providers=["CPUExecutionProvider"]
        )

    def token_ids(self, text: str) -> list[int]:
        """The token ids of ``text`` exactly as the checkpoint's CLIP tokenizer gives them."""
        return list(self._tokenizer.encode(text).ids)

    def encode_text(self, text: str) -> np.ndarray:
        """The unconditioned text embedding ``(D,)`` (projected, not normalised)."""
        encoding = self._tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        (embedding,) = self._text.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(embedding[0], dtype=np.float32)

    def rerank(
        self, text_embedding: np.ndarray, features: np.ndarray, video_embeddings: np.ndarray
    ) -> np.ndarray:
        """Cosine of each clip's video embedding with the text conditioned on that clip
        (``XClipEncoder.rerank``: the folded prompt generator, traced)."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        text = np.ascontiguousarray(text_embedding, dtype=np.float32).reshape(-1)
        if features.dtype == np.float16:
            # A library's float16 features as stored: ONNX Runtime widens 100 candidates in
            # 1.3 ms on one thread, numpy's astype in 7.3 (it converts one value at a time).
            (wide,) = self._widen.run(None, {"features": np.ascontiguousarray(features)})
        else:
            wide = np.ascontiguousarray(features, dtype=np.float32)
        (found,) = self._rerank.run(  # a session runs calls from several threads at once
            None,
            {
                "text": text,
                "features": wide,
                "video": np.ascontiguousarray(video_embeddings, dtype=np.float32),
            },
        )
        return np.asarray(found, dtype=np.float32)
