"""Write a library's query model: the text tower and the re-rank exported to ONNX, once.

``clipdex index`` writes it after indexing (torch is loaded then anyway), and a search that
finds none searches with torch and writes it afterwards; every later search runs it with ONNX
Runtime (``clipdex.query_model``) and never imports torch. The folder is keyed by the model's
digest (``clipdex.model_identity``), so another model gets its own export and the old one is
removed. The graphs are traced from the functions the torch path runs (``text_features``,
``rerank_scores``) in float32; an export that does not reproduce the torch path's outputs on a
probe is not installed.

The export is written from the float32 model. ``--quantize int8`` searches run an int8 text
tower made from the exported float32 one by ONNX Runtime's dynamic quantization (torch's
dynamically quantized Linear layers do not trace to ONNX): a different int8 arithmetic from
torch's, held to the float32 path by ``INT8_PROBE_COSINE``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from clipdex.query_model import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    RERANK_GRAPH,
    TEXT_GRAPH,
    TEXT_INT8_GRAPH,
    TOKENIZER_NAME,
    WEIGHTS_SUFFIX,
    WIDEN_GRAPH,
    QueryModel,
    find_query_model,
    query_model_folder,
    query_model_root,
)

logger = logging.getLogger(__name__)

OPSET = 17
# How far the export may be from the torch path on the probe before it is refused: float
# rounding of a different kernel library is ~1e-6.
PROBE_TOLERANCE = 1e-4
# The int8 text tower's embedding against the float32 one's, the least cosine allowed: torch's
# int8 towers stay within about 0.99 of float32 (clipdex.encoder); ONNX Runtime's int8 text
# tower of the full-size architecture gave 0.9992 on 30 texts.
INT8_PROBE_COSINE = 0.99
ABANDONED_AFTER_S = 3600
_PROBE_TEXTS = ("a dog jumping into a lake", "x")
# ONNX Runtime's optimisation level of each graph, and the passes left out, chosen for outputs
# identical to the traced graph's (benchmarks/cold_search.py measured them on the full-size
# architecture; tests/clipdex/test_query_model.py holds them to the torch path):
# - the text tower at "basic" (constant folding, redundant nodes removed): the same arithmetic,
#   loaded about a third faster than the traced graph. "extended" fuses its attention and layer
#   norms, moving the embedding by 2e-6, which the re-rank of random weights amplified to 7e-5.
# - the re-rank at "extended" without QuickGeluFusion: MatmulTransposeFusion multiplies by
#   the features transposed without copying them (the copy was a fifth of the re-rank's time),
#   with identical scores; QuickGelu would replace the exact sigmoid with an approximation.
# - the int8 text tower at "extended": its arithmetic is int8's anyway, and the fused attention
#   and layer norms moved its embedding by 7e-7 while taking it from 12.4 to 10.2 ms a text
#   (full-size, two threads).
OPTIMISATION = {
    TEXT_GRAPH: ("ORT_ENABLE_BASIC", []),
    TEXT_INT8_GRAPH: ("ORT_ENABLE_EXTENDED", []),
    RERANK_GRAPH: ("ORT_ENABLE_EXTENDED", ["QuickGeluFusion"]),
}


class QueryExportError(Exception):
    """The query model could not be exported or did not reproduce the torch path."""


def ensure_query_model(encoder, library_folder: Path, model_digest: str | None) -> Path | None:
    """The export for ``model_digest`` under the library, written from ``encoder`` if missing.

    ``encoder`` must be the float32 ``XClipEncoder`` of that very model (the caller checked its
    digest). Returns None, logging why, when the export cannot be written (no digest, a
    read-only library folder, a graph that does not trace): search then simply stays on torch.
    """
    if not model_digest or getattr(encoder, "quantize", None):
        return None
    found = find_query_model(library_folder, model_digest)
    if found is not None:
        return found
    try:
        return write_query_model(encoder, library_folder, model_digest)
    except (OSError, QueryExportError) as exc:
        logger.warning("could not write the fast query model (search stays on torch): %s", exc)
        return None


def write_query_model(encoder, library_folder: Path, model_digest: str) -> Path:
    """Export, check and install the query model; returns its folder.

    Written into a temporary folder beside its place and renamed into it, so a reader sees a
    whole export or none; another process that installed it first wins. Exports of other
    models under the library are removed.
    """
    root = query_model_root(library_folder)
    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    target = query_model_folder(library_folder, model_digest)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the export from the library's other users
    try:
        _export(encoder, staging, model_digest)
        _check(encoder, staging)
        try:
            os.rename(staging, target)
        except OSError:
            if find_query_model(library_folder, model_digest) is not None:
                logger.debug("another process installed %s first", target)
            else:  # an export of an older format, or a damaged one: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_others(root, keep=target)
    logger.info("wrote the query model %s", target)
    return target


def _export(encoder, folder: Path, model_digest: str) -> None:
    import torch

    from clipdex.encoder import rerank_scores, text_features

    model = encoder.model
    tokenizer = encoder.tokenizer

    class Traced(torch.nn.Module):
        """Holds the model as a submodule, so its weights export as initializers."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

    class Text(Traced):
        def forward(self, input_ids, attention_mask):
            return text_features(self.model, input_ids, attention_mask)

    class Rerank(Traced):
        def forward(self, text, features, video):
            return rerank_scores(self.model.prompts_generator, text, features, video)

    ids = tokenizer([_PROBE_TEXTS[0]], padding=True, truncation=True, return_tensors="pt")
    dim, tokens = encoder.embed_dim, encoder.feature_tokens
    rerank_inputs = (torch.zeros(dim), torch.zeros(3, tokens, dim), torch.ones(3, dim))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The tracer warns about every Python branch on a shape; the probe below checks
            # that the graph holds for other lengths and batch sizes.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Text(),
                (ids["input_ids"], ids["attention_mask"]),
                str(folder / TEXT_GRAPH),
                dynamo=False,
                opset_version=OPSET,
                input_names=["input_ids", "attention_mask"],
                output_names=["text"],
                dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}},
            )
            torch.onnx.export(
                Rerank(),
                rerank_inputs,
                str(folder / RERANK_GRAPH),
                dynamo=False,
                opset_version=OPSET,
                input_names=["text", "features", "video"],
                output_names=["scores"],
                dynamic_axes={
                    "features": {0: "clips"},
                    "video": {0: "clips"},
                    "scores": {0: "clips"},
                },
            )
        for graph in (TEXT_GRAPH, RERANK_GRAPH):
            _move_weights_out(folder / graph)
            _optimise(folder / graph)
        _quantize_text(folder)
        _write_widen(folder / WIDEN_GRAPH)
    except Exception as exc:  # noqa: BLE001 - whatever the tracer trips on, search stays on torch
        raise QueryExportError(f"the ONNX export failed: {exc}") from exc
    tokenizer.backend_tokenizer.save(str(folder / TOKENIZER_NAME))
    positions = int(model.config.text_config.max_position_embeddings)
    manifest = {
        "format": FORMAT_VERSION,
        "model_digest": model_digest,
        "model_id": encoder.model_id,
        "embed_dim": encoder.embed_dim,
        # transformers' "no limit" is a huge number; the position table is the real limit.
        "max_length": min(int(tokenizer.model_max_length), positions),
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


def _write_widen(graph: Path) -> None:
    """The graph that widens a re-rank's float16 features to float32 (one Cast: ONNX Runtime
    converts with the CPU's half-precision instructions, numpy one value at a time)."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["clips", "tokens", "dim"]
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Cast", ["features"], ["wide"], to=TensorProto.FLOAT)],
            "widen",
            [helper.make_tensor_value_info("features", TensorProto.FLOAT16, shape)],
            [helper.make_tensor_value_info("wide", TensorProto.FLOAT, shape)],
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    onnx.checker.check_model(model)
    onnx.save_model(model, str(graph))
    graph.chmod(0o644)


def _move_weights_out(graph: Path) -> None:
    """Rewrite ``graph`` with its weights in ``<graph>.weights`` (ONNX external data)."""
    import onnx

    weights = graph.with_name(graph.name + WEIGHTS_SUFFIX)
    model = onnx.load(str(graph))
    onnx.save_model(
        model,
        str(graph),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=weights.name,
        size_threshold=1024,
    )
    weights.chmod(0o644)  # onnx writes it 0600: the library's other users read it too


def _optimise(graph: Path) -> None:
    """Replace ``graph`` (and its weights) with ONNX Runtime's optimisation of it at the level
    and with the passes ``OPTIMISATION`` names for it, saved once so that a search loads the
    result with optimisation off: a faster run and a faster load, not one bought by the other.
    ``_check`` then holds the optimised graph to the torch path's outputs like the traced one.
    """
    import onnxruntime as ort

    level_name, disabled = OPTIMISATION[graph.name]
    level = getattr(ort.GraphOptimizationLevel, level_name)
    # Written into a folder of its own under the graph's names, then moved beside the other
    # files: the graph names its weights file, relative to its folder.
    optimised = graph.parent / ".optimised"
    optimised.mkdir()
    weights = graph.name + WEIGHTS_SUFFIX
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.optimized_model_filepath = str(optimised / graph.name)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", weights
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    options.log_severity_level = 3
    ort.InferenceSession(
        str(graph), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )
    for name in (graph.name, weights):
        (optimised / name).chmod(0o644)
        os.replace(optimised / name, graph.parent / name)
    optimised.rmdir()


def _quantize_text(folder: Path) -> None:
    """Write the int8 text tower: ONNX Runtime's dynamic quantization of the optimised float32
    one (int8 weights; each matrix product quantizes its input as it runs)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _root_records_dropped():
        quantize_dynamic(
            folder / TEXT_GRAPH,
            folder / TEXT_INT8_GRAPH,
            weight_type=QuantType.QInt8,
            # The token embeddings too (Gather): a 101 MB float32 table in xclip-base-patch32,
            # a quarter of that in int8.
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        )
    _move_weights_out(folder / TEXT_INT8_GRAPH)  # mapped when loaded, not copied
    _optimise(folder / TEXT_INT8_GRAPH)


@contextmanager
def _root_records_dropped() -> Iterator[None]:
    """Drop what is logged on the root logger itself while the block runs.

    ``quantize_dynamic`` calls ``logging.warning`` (a hint about pre-processing, nothing a user
    of clipdex should see). That module function would also configure logging for the whole
    process (``logging.basicConfig``: a stderr handler on the root logger) when the root logger
    has none, as in a program that uses clipdex as a library; a placeholder handler meanwhile
    prevents that. A root logger's filter sees only records logged on it, not those of named
    loggers (clipdex's own, other threads'), which still reach its handlers."""
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addFilter(_dropped)
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)
        root.removeFilter(_dropped)


def _dropped(record: logging.LogRecord) -> bool:
    return False


def _check(encoder, folder: Path) -> None:
    """Refuse an export whose tokens, text embeddings or re-rank scores differ from torch's."""
    exported, int8 = QueryModel(folder), QueryModel(folder, quantize="int8")
    rng = np.random.default_rng(0)
    for text in _PROBE_TEXTS + (" ".join(["word"] * 100),):
        expected_ids = encoder.tokenizer([text], padding=True, truncation=True)["input_ids"][0]
        if exported.token_ids(text) != list(expected_ids):
            raise QueryExportError(f"the exported tokenizer splits {text!r} differently")
        reference = encoder.encode_text(text)
        if np.abs(exported.encode_text(text) - reference).max() > PROBE_TOLERANCE:
            raise QueryExportError("the exported text tower does not match the torch model")
        if _cosine(int8.encode_text(text), reference) < INT8_PROBE_COSINE:
            raise QueryExportError("the int8 text tower strays too far from the torch model")
    features = rng.standard_normal((5, encoder.feature_tokens, encoder.embed_dim))
    video = rng.standard_normal((5, encoder.embed_dim))
    features, video = features.astype(np.float32), video.astype(np.float32)
    text = encoder.encode_text(_PROBE_TEXTS[0])
    exported_text = exported.encode_text(_PROBE_TEXTS[0])
    # float32 features, and float16 ones as a library stores them (widened by widen.onnx)
    for stored in (features, features.astype(np.float16)):
        reference = encoder.rerank(text, stored, video)
        scores = exported.rerank(exported_text, stored, video)
        if np.abs(scores - reference).max() > PROBE_TOLERANCE:
            raise QueryExportError("the exported re-rank does not match the torch model")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of two embeddings (1.0 for two zero vectors: nothing strayed)."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms else 1.0


def _remove_abandoned(root: Path) -> None:
    """Drop staging folders of exports killed half-way (as large as an export): one untouched
    for ABANDONED_AFTER_S is no live export's, which takes a minute at most."""
    now = time.time()
    for folder in root.glob(".export-*"):
        try:
            if now - folder.stat().st_mtime > ABANDONED_AFTER_S:
                shutil.rmtree(folder, ignore_errors=True)
                logger.info("removed %s, left by an interrupted export", folder)
        except OSError:
            continue


def _remove_others(root: Path, keep: Path) -> None:
    """Drop the exports of other models (the library moved to another model)."""
    for folder in root.iterdir():
        if folder != keep and folder.is_dir() and not folder.name.startswith("."):
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed the query model of another model, %s", folder.name)
