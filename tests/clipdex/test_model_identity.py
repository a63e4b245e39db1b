"""A library is bound to what its model is (config and weights), not to the name it was given."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clipdex.model_identity import DigestCache, model_digest
from tests.support.checkpoint import retrained_copy
from tests.support.cli import run, run_json, subprocess_run

_WATCHED: set[str] = set()
_OPENED: list[str] = []


def _count_opens(event: str, args: tuple) -> None:
    """Audit hook: record every open() of a watched file in this process (audit hooks cannot
    be removed, so it does nothing unless a test is watching)."""
    if event == "open" and _WATCHED and isinstance(args[0], str | bytes | os.PathLike):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path in _WATCHED:
            _OPENED.append(path)


sys.addaudithook(_count_opens)


@contextmanager
def opens_of(path: Path) -> Iterator[list[str]]:
    """The list of times ``path`` is opened by this process inside the block."""
    _OPENED.clear()
    _WATCHED.add(os.path.realpath(path))
    try:
        yield _OPENED
    finally:
        _WATCHED.clear()


def test_a_copied_checkpoint_is_the_same_model(video_dir, xclip_checkpoint, tmp_path):
    first = run_json("index", video_dir)
    assert first["indexed"] == 3
    copy = shutil.copytree(xclip_checkpoint, tmp_path / "copy")

    again = run_json("index", video_dir, "--model", copy)
    assert (again["indexed"], again["clips_added"], again["skipped"]) == (0, 0, 3)
    found = run_json("search", "a red square", "--model", copy)
    assert found["hits"]
    # The library still shows the path it was built with.
    assert run_json("status")["model"] == str(xclip_checkpoint)


def test_other_weights_with_the_same_config_are_refused(video_dir, xclip_checkpoint, tmp_path):
    assert run("index", video_dir / "red.mp4").exit_code == 0
    tuned = retrained_copy(xclip_checkpoint, tmp_path / "tuned")
    for args in (("search", "x", "--model", tuned), ("index", video_dir, "--model", tuned)):
        result = run(*args)
        assert result.exit_code == 2
        line = result.stderr.strip()
        assert line.startswith("clipdex: error: ") and "\n" not in line
        assert str(xclip_checkpoint) in line and str(tuned) in line
        assert "different model" in line and f"--model {xclip_checkpoint}" in line
    assert run_json("status")["videos"] == 1


def test_weights_replaced_under_the_library_s_own_path_are_refused(
    video_dir, xclip_checkpoint, tmp_path
):
    model = shutil.copytree(xclip_checkpoint, tmp_path / "model")
    assert run("index", video_dir / "red.mp4", "--model", model).exit_code == 0
    tuned = retrained_copy(xclip_checkpoint, tmp_path / "tuned")
    shutil.copy(tuned / "model.safetensors", model / "model.safetensors")
    result = run("index", video_dir, "--model", model)
    assert result.exit_code == 2 and "different model" in result.stderr


@pytest.mark.slow
def test_hub_id_and_a_local_copy_are_the_same_model(
    video_dir, xclip_checkpoint, tmp_path, monkeypatch
):
    """Built from a local folder, searched by the hub id of the same weights in the Hugging
    Face cache (laid out as ``hf download`` leaves it), in a real process."""
    repo = tmp_path / "hub" / "models--clipdex-tests--tiny-xclip"
    shutil.copytree(xclip_checkpoint, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert run("index", video_dir / "red.mp4").exit_code == 0

    result = subprocess_run("search", "red", "--json", "--model", "clipdex-tests/tiny-xclip")
    assert result.returncode == 0, result.stderr
    assert '"hits": [{' in result.stdout


def test_weights_are_read_once_then_their_cached_digest_is_used(xclip_checkpoint, tmp_path):
    model = shutil.copytree(xclip_checkpoint, tmp_path / "model")
    weights = model / "model.safetensors"
    cache = tmp_path / "cache" / "model-digests.json"
    with opens_of(weights) as opened:
        digest = model_digest(str(model), DigestCache(cache))
        assert len(opened) == 1 and cache.is_file()
        # A new cache object reads the saved file, as the next clipdex process does.
        assert model_digest(str(model), DigestCache(cache)) == digest
        assert len(opened) == 1

        os.utime(weights)  # touched: read again, same bytes, same digest
        assert model_digest(str(model), DigestCache(cache)) == digest
        assert len(opened) == 2

        # Other bytes of the same size with the old mtime put back (as `cp -p` would): the
        # inode change time still tells, so the file is read again and the digest differs.
        stat = weights.stat()
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        opened.clear()
        assert model_digest(str(model), DigestCache(cache)) != digest
        assert len(opened) == 1


def test_the_digest_ignores_the_name_but_not_the_config(xclip_checkpoint, tmp_path):
    cache = DigestCache(tmp_path / "cache.json")
    copy = shutil.copytree(xclip_checkpoint, tmp_path / "copy")
    assert model_digest(str(copy), cache) == model_digest(str(xclip_checkpoint), cache)
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"logit_scale_init_value"', '"x_unused"', 1))
    assert model_digest(str(copy), cache) != model_digest(str(xclip_checkpoint), cache)
    assert model_digest(str(tmp_path / "nothing-here"), cache) is None
