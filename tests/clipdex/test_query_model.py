"""The ONNX query model: same tokens, embeddings, scores and hits as the torch path, no torch.

A real library is indexed with the tiny checkpoint; its query model is exported from the torch
encoder and searched with both, through ``search_text`` and through the real ``clipdex search``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import time

import numpy as np
import pytest

from clipdex.cli import load_text_encoder
from clipdex.commands.serve import warm_up
from clipdex.encoder import XClipEncoder
from clipdex.model_identity import model_digest
from clipdex.query_export import INT8_PROBE_COSINE, PROBE_TOLERANCE, write_query_model
from clipdex.query_model import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    RERANK_GRAPH,
    TEXT_GRAPH,
    TEXT_INT8_GRAPH,
    QueryModel,
    find_query_model,
    query_model_root,
)
from clipdex.server.app import create_app
from indexer.pipeline import Indexer
from search.text import SearchOptions, rank_clips, search_text
from storage.library import Library
from tests.support.cli import run, run_json
from tests.support.library import bind_settings
from tests.support.processes import ClipdexProcess, run_python

TOLERANCE = 1e-5
QUERIES = ["a dog jumping into a lake", "red shapes moving", "an empty street at night"]
TEXTS = [
    *QUERIES,
    "A Dog, JUMPING!!  into   the lake...",
    "ünïcödé café naïve 日本語のテキスト 🐕‍🦺 emoji",
    "don't stop: it's 3:45pm & 10% off #tags @people",
    "people dancing at night " * 30,  # far beyond 77 tokens: truncated
    "x",
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, xclip_checkpoint, video_dir):
    """The shared videos indexed into a library, its query model exported; returns
    (library, torch encoder, query model)."""
    encoder = XClipEncoder(str(xclip_checkpoint))
    library = Library.open(tmp_path_factory.mktemp("query-model-lib"))
    digest = model_digest(str(xclip_checkpoint))
    settings = library.bind(bind_settings(encoder))
    report = Indexer(library, encoder, settings).run([video_dir])
    assert report.indexed == 3 and not report.failed
    folder = write_query_model(encoder, library.folder, digest)
    assert find_query_model(library.folder, digest) == folder
    yield library, encoder, QueryModel(folder)
    library.close()


def test_tokens_are_the_clip_tokenizers(indexed):
    _, encoder, exported = indexed
    for text in TEXTS:
        expected = encoder.tokenizer([text], padding=True, truncation=True)["input_ids"][0]
        assert exported.token_ids(text) == list(expected), text
    assert len(exported.token_ids(TEXTS[-2])) == 77  # cut to the model's length, EOS last
    assert exported.token_ids(TEXTS[-2])[-1] == encoder.tokenizer.eos_token_id


def test_text_embedding_equals_the_torch_one(indexed):
    _, encoder, exported = indexed
    for text in TEXTS:
        np.testing.assert_allclose(
            exported.encode_text(text), encoder.encode_text(text), atol=TOLERANCE, rtol=0
        )


@pytest.mark.parametrize("rerank", [True, False])
def test_search_gives_the_torch_paths_hits_and_scores(indexed, rerank):
    library, encoder, exported = indexed
    for query in QUERIES:
        options = SearchOptions(k=100, rerank=rerank)  # every clip is a candidate
        expected = rank_clips(library, encoder, query, options)
        got = rank_clips(library, exported, query, options)
        assert len(got) == len(expected) > 5
        assert [i for i, _ in got] == [i for i, _ in expected], query
        np.testing.assert_allclose(
            [s for _, s in got], [s for _, s in expected], atol=TOLERANCE, rtol=0
        )
        hits = search_text(library, exported, query, SearchOptions(k=3, rerank=rerank))
        torch_hits = search_text(library, encoder, query, SearchOptions(k=3, rerank=rerank))
        assert [(h.path, h.start_s) for h in hits] == [(h.path, h.start_s) for h in torch_hits]


def test_rerank_of_many_candidates_equals_the_torch_one(indexed):
    _, encoder, exported = indexed
    rng = np.random.default_rng(7)
    features = 0.5 * rng.standard_normal((300, encoder.feature_tokens, encoder.embed_dim))
    video = rng.standard_normal((300, encoder.embed_dim))
    features, video = features.astype(np.float32), video.astype(np.float32)
    text = encoder.encode_text(QUERIES[0])
    np.testing.assert_allclose(
        exported.rerank(text, features, video),
        encoder.rerank(text, features, video),
        atol=TOLERANCE,
        rtol=0,
    )
    assert exported.rerank(text, features[:0], video[:0]).shape == (0,)


def test_stored_float16_candidates_on_three_threads_score_as_torch_and_as_one_thread(
    indexed, monkeypatch
):
    """A library's float16 features, as stored: widened by the export's own graph and re-ranked
    on ONNX Runtime's threads (three with CLIPDEX_THREADS=3), they score as the torch path
    scores them, and exactly as on one thread."""
    _, encoder, exported = indexed
    monkeypatch.setenv("CLIPDEX_THREADS", "3")
    three = QueryModel(exported.folder)
    monkeypatch.setenv("CLIPDEX_THREADS", "1")
    one = QueryModel(exported.folder)
    rng = np.random.default_rng(8)
    features = 0.5 * rng.standard_normal((300, encoder.feature_tokens, encoder.embed_dim))
    features = features.astype(np.float16)
    video = rng.standard_normal((300, encoder.embed_dim)).astype(np.float32)
    text = encoder.encode_text(QUERIES[1])
    ours, torch_scores = three.rerank(text, features, video), encoder.rerank(text, features, video)
    # Float rounding of another kernel library, amplified by random weights: seed 8 differs
    # from torch by 1.1e-5 at most, within what the export itself is held to.
    np.testing.assert_allclose(ours, torch_scores, atol=PROBE_TOLERANCE, rtol=0)
    np.testing.assert_array_equal(ours, one.rerank(text, features, video))
    widened = three.rerank(text, features.astype(np.float32), video)
    np.testing.assert_array_equal(ours, widened)  # the widening is exact


def test_the_int8_text_tower_runs_int8_and_stays_near_float32(indexed):
    """``--quantize int8`` searches get ONNX Runtime's int8 text tower: quantized matrix
    products, embeddings within INT8_PROBE_COSINE of the torch float32 ones (not equal to
    them), and the float32 re-rank."""
    import onnx

    _, encoder, exported = indexed
    int8 = QueryModel(exported.folder, quantize="int8")
    graph = onnx.load(str(exported.folder / TEXT_INT8_GRAPH))
    ops = {node.op_type for node in graph.graph.node}
    # int8 matrix products, in the fused forms of ONNX Runtime's optimisation at export
    # (quantizing the input and multiplying in int8 in one node, or scaling the int32 product)
    assert {"DynamicQuantizeMatMul", "MatMulIntegerToFloat"} <= ops, ops
    assert "MatMulInteger" not in ops and "Gemm" not in ops, ops
    for text in TEXTS:
        ours, reference = int8.encode_text(text), encoder.encode_text(text)
        cos = float(ours @ reference) / float(np.linalg.norm(ours) * np.linalg.norm(reference))
        assert INT8_PROBE_COSINE <= cos < 1 - 1e-9, text
    dim = encoder.embed_dim
    features = np.random.default_rng(1).standard_normal((4, encoder.feature_tokens, dim))
    video = np.ones((4, dim), np.float32)
    text = int8.encode_text(QUERIES[0])
    np.testing.assert_array_equal(
        int8.rerank(text, features.astype(np.float32), video),
        exported.rerank(text, features.astype(np.float32), video),
    )


def test_the_export_is_saved_as_onnx_runtime_optimised_it(indexed):
    """What a search loads with optimisation off is already optimised: the text tower's
    constants folded, and the re-rank multiplying by the features without transposing a copy
    of them (the parity tests above hold both to the torch path)."""
    import onnx

    _, _, exported = indexed
    text = onnx.load(str(exported.folder / TEXT_GRAPH), load_external_data=False)
    assert not {"Constant", "Identity"} & {node.op_type for node in text.graph.node}
    rerank = onnx.load(str(exported.folder / RERANK_GRAPH), load_external_data=False)
    readers = [node.op_type for node in rerank.graph.node if "features" in node.input]
    assert "Transpose" not in readers and "FusedMatMul" in readers, readers


def test_an_export_of_another_format_or_model_is_not_used(indexed, tmp_path):
    library, _, exported = indexed
    copy = tmp_path / "query-model" / exported.model_digest
    shutil.copytree(exported.folder, copy)
    assert find_query_model(tmp_path, exported.model_digest) == copy
    assert find_query_model(tmp_path, "0" * 64) is None
    assert find_query_model(tmp_path, None) is None
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest | {"format": FORMAT_VERSION + 1}))
    assert find_query_model(tmp_path, exported.model_digest) is None


def test_a_new_model_replaces_the_old_export(indexed, tmp_path, monkeypatch, capfd):
    _, encoder, exported = indexed
    # As in a program using clipdex as a library: logging not configured. The export's int8
    # step must neither print ONNX Runtime's pre-processing hint nor configure logging.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    abandoned = query_model_root(tmp_path) / ".export-killed"  # an export killed half-way
    live = query_model_root(tmp_path) / ".export-running"
    abandoned.mkdir(parents=True)
    live.mkdir()
    os.utime(abandoned, (time.time() - 7200, time.time() - 7200))
    old = write_query_model(encoder, tmp_path, "a" * 64)
    assert not abandoned.exists() and live.is_dir()
    live.rmdir()
    new = write_query_model(encoder, tmp_path, "b" * 64)
    assert not old.exists() and new.is_dir()
    assert sorted(p.name for p in query_model_root(tmp_path).iterdir()) == ["b" * 64]
    assert root.handlers == [] and not root.filters
    assert "pre-processing" not in capfd.readouterr().err


@pytest.fixture(autouse=True)
def query_model_allowed(monkeypatch):
    """The suite forces the torch path (tests/conftest.py); these tests are about the other."""
    monkeypatch.delenv("CLIPDEX_QUERY_MODEL", raising=False)


def _search(*args: str, env: dict[str, str] | None = None) -> list[tuple[str, float, float]]:
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        hits = run_json("search", *args)["hits"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return [(h["path"], h["start"], h["score"]) for h in hits]


def _same_hits(got, expected) -> None:
    assert [(p, s) for p, s, _ in got] == [(p, s) for p, s, _ in expected]
    np.testing.assert_allclose([x for *_, x in got], [x for *_, x in expected], atol=TOLERANCE)


@pytest.mark.slow
def test_cli_search_runs_without_torch_and_answers_as_torch_does(video_dir, library_dir):
    assert run("index", str(video_dir)).exit_code == 0
    (folder,) = query_model_root(library_dir).iterdir()  # written by index
    assert find_query_model(library_dir, folder.name) == folder
    for args in (("red shapes moving",), ("a dog", "--no-rerank"), ("a dog", "--not", "red")):
        torch_hits = _search(*args, env={"CLIPDEX_QUERY_MODEL": "torch"})
        _same_hits(_search(*args), torch_hits)
    # A real process running the ``clipdex`` entry point, which writes the names of every
    # module it imported to a file as it exits (importlib's imports included, which
    # ``-X importtime`` does not list).
    dump = library_dir.parent / "modules.json"
    code = (
        "import atexit, json, runpy, sys\n"
        f"atexit.register(lambda: open({str(dump)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['clipdex', 'search', 'red', '--json']\n"
        "runpy.run_module('clipdex', run_name='__main__')\n"
    )
    stdout = run_python(code)
    imported = set(json.loads(dump.read_text()))
    assert {"onnxruntime", "tokenizers", "search.text", "clipdex.commands.search"} <= imported
    assert "storage.sqlite_reader" in imported  # a SQLite library is read with sqlite3
    # Nothing of the model runtime, decoding, indexing, serving, the other commands, or
    # SQLAlchemy and Alembic (about a third of a second to import).
    heavy = {"torch", "transformers", "av", "PIL", "fastapi", "uvicorn", "watchdog"}
    heavy |= {"sqlalchemy", "alembic", "storage.library", "storage.repository"}
    # Nor FAISS (a library without a shortlist: storage.flat_index), nor the torch path's
    # encoder module, nor tempfile (hashlib is: the suite names the model in CLIPDEX_MODEL,
    # and a named model is fingerprinted, from the digest cache).
    heavy |= {"faiss", "storage.vectors", "tempfile", "clipdex.encoder"}
    assert not heavy & imported
    assert not {m for m in imported if m.startswith(("indexer.pipeline", "clipdex.server"))}
    assert {m for m in imported if m.startswith("clipdex.commands.")} == {"clipdex.commands.search"}
    assert json.loads(stdout)["hits"]


@pytest.mark.slow
def test_which_encoder_a_search_gets(video_dir, library_dir, monkeypatch):
    """The ONNX one where the export exists (also for serve, which loads it before its first
    search), torch for int8 or when forced (serve then loads nothing before a search)."""
    assert run("index", str(video_dir)).exit_code == 0
    with Library.open(library_dir) as library:
        encoder, export = load_text_encoder(None, library, prepack=True)
        assert isinstance(encoder, QueryModel) and export is None
        loads = []

        def load():
            loads.append(load_text_encoder(None, library, prepack=True)[0])
            return loads[-1]

        served = create_app(library, load).state.served
        warm_up(served, None).join(timeout=120)
        assert len(loads) == 1 and isinstance(loads[0], QueryModel)
        with served.model_lock:
            assert served.encoder() is loads[0]  # the first search finds it loaded
        assert warm_up(served, "microsoft/xclip-base-patch32") is None  # would fingerprint
        # Stopped while it loads the query model, the real server still exits 0 (an
        # interpreter that exits under ONNX Runtime building a session aborts).
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.delenv("CLIPDEX_MODEL", raising=False)  # a named model is not warmed up
        server = ClipdexProcess("serve", "--port", str(port))
        try:
            server.wait_for(lambda: server.maps("onnxruntime"), "the query model's load")
            assert server.stop(signal.SIGTERM) == 0, server.stderr
        finally:
            server.process.kill()
        encoder, export = load_text_encoder(None, library, "int8")
        assert isinstance(encoder, QueryModel) and encoder.quantize == "int8"  # its int8 tower
        assert export is None
        monkeypatch.setenv("CLIPDEX_QUERY_MODEL", "torch")
        encoder, export = load_text_encoder(None, library)
        assert isinstance(encoder, XClipEncoder) and export is None  # forced: nothing written
        assert warm_up(served, None) is None
        monkeypatch.delenv("CLIPDEX_QUERY_MODEL")
        shutil.rmtree(query_model_root(library_dir))
        assert warm_up(served, None) is None  # no export: torch waits for a search
        encoder, export = load_text_encoder(None, library, "int8")
        assert isinstance(encoder, XClipEncoder) and encoder.quantize == "int8"
        assert export is None  # int8 torch cannot write the float32 export
        encoder, export = load_text_encoder(None, library)
        assert isinstance(encoder, XClipEncoder) and export is not None
        export()
        assert isinstance(load_text_encoder(None, library)[0], QueryModel)


@pytest.mark.slow
def test_a_search_without_export_uses_torch_then_writes_it(video_dir, library_dir):
    assert run("index", str(video_dir)).exit_code == 0
    (folder,) = query_model_root(library_dir).iterdir()
    expected = _search("red shapes moving")
    shutil.rmtree(folder)
    _same_hits(_search("red shapes moving"), expected)  # the torch path, within TOLERANCE
    assert find_query_model(library_dir, folder.name) == folder  # and it wrote the export
    # A damaged export is set aside: torch answers, and the export is written again.
    (folder / TEXT_GRAPH).write_bytes(b"not an onnx graph")
    result = run("search", "red shapes moving", "--json")
    assert result.exit_code == 0, result.output
    hits = [(h["path"], h["start"], h["score"]) for h in json.loads(result.stdout)["hits"]]
    _same_hits(hits, expected)
    assert "searching with torch and writing it again" in result.stderr
    assert QueryModel(find_query_model(library_dir, folder.name)).encode_text("x").shape == (64,)


def test_an_export_of_an_older_format_is_replaced(indexed, tmp_path):
    _, encoder, _ = indexed
    folder = write_query_model(encoder, tmp_path, "c" * 64)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest | {"format": FORMAT_VERSION - 1}))
    (folder / TEXT_GRAPH).unlink()
    assert find_query_model(tmp_path, "c" * 64) is None
    assert write_query_model(encoder, tmp_path, "c" * 64) == folder
    assert find_query_model(tmp_path, "c" * 64) == folder
