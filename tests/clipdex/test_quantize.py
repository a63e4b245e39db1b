"""--quantize int8: the towers run in dynamic int8, re-rank parity with its own towers holds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from clipdex.cli import cli
from clipdex.commands import register
from clipdex.encoder import XClipEncoder


def test_int8_towers_stay_close_to_float32(xclip_checkpoint) -> None:
    fp32 = XClipEncoder(str(xclip_checkpoint))
    int8 = XClipEncoder(str(xclip_checkpoint), quantize="int8")
    linear = type(int8.model.vision_model.encoder.layers[0].mlp.fc1).__name__
    assert linear == "Linear" and int8.quantize == "int8"  # dynamic int8 keeps the class name
    assert "quantized" in type(int8.model.vision_model.encoder.layers[0].mlp.fc1).__module__
    pixels = np.random.default_rng(0).standard_normal((2, 8, 3, 224, 224)).astype(np.float32)
    a, _ = fp32.encode_clips(pixels)
    b, _ = int8.encode_clips(pixels)
    assert np.all(np.sum(a * b, axis=1) > 0.95)
    ta, tb = fp32.encode_text("a dog"), int8.encode_text("a dog")
    assert float(ta @ tb / np.linalg.norm(ta) / np.linalg.norm(tb)) > 0.95


def test_unknown_quantization_is_refused(xclip_checkpoint) -> None:
    with pytest.raises(ValueError, match="unknown quantization"):
        XClipEncoder(str(xclip_checkpoint), quantize="int4")


def test_cli_indexes_and_searches_with_int8(known_videos) -> None:
    register(cli)
    runner = CliRunner()
    red = str(known_videos["red.mp4"].path)
    result = runner.invoke(cli, ["index", red, "--quantize", "int8", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["clips_added"] == 1
    result = runner.invoke(cli, ["search", "red", "--quantize", "int8", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["hits"][0]["path"] == red
