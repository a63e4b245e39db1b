"""``--device``: auto is the CPU on a machine without CUDA, ``cpu`` changes nothing, a GPU that
is not there is one line, and float16 is kept only within HALF_TOLERANCE of float32 (checked
here through CPU autocast, the same code path CUDA takes)."""

from __future__ import annotations

import numpy as np
import pytest

from clipdex import encoder as encoder_module
from clipdex.device import DeviceError, check_device_name, default_batch_clips, resolve_device
from clipdex.encoder import XClipEncoder
from tests.support.cli import run, run_json


@pytest.fixture(scope="module")
def pixels(xclip_checkpoint) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 8, 3, 224, 224)).astype(np.float32)


def test_auto_is_the_cpu_here_and_gives_what_cpu_gives(xclip_checkpoint, pixels):
    auto = XClipEncoder(str(xclip_checkpoint), device="auto")
    cpu = XClipEncoder(str(xclip_checkpoint), device="cpu")
    assert (auto.device, auto.half, cpu.half) == ("cpu", False, False)
    assert pixels.shape[-1] == cpu.image_size and pixels.shape[1] == cpu.frames_per_clip
    for mine, theirs in zip(auto.encode_clips(pixels), cpu.encode_clips(pixels)):
        np.testing.assert_array_equal(mine, theirs)
    assert default_batch_clips(resolve_device("auto")) == 8


def test_device_names():
    assert [check_device_name(n) for n in ("auto", "cpu", "cuda", "cuda:1", "mps")]
    with pytest.raises(DeviceError, match="expected auto|cpu"):
        check_device_name("gpu")
    with pytest.raises(DeviceError, match="no CUDA GPU is available"):
        resolve_device("cuda:0")
    assert default_batch_clips("cuda:1") == 32


def test_half_is_kept_within_tolerance_else_float32(xclip_checkpoint, pixels, monkeypatch):
    exact = XClipEncoder(str(xclip_checkpoint)).encode_clips(pixels)
    half = XClipEncoder(str(xclip_checkpoint), half=True)
    fast = half.encode_clips(pixels)
    assert half.half  # the first batch agreed: float16 stays on
    assert encoder_module.half_agreement(exact, fast) >= encoder_module.HALF_TOLERANCE
    assert not np.array_equal(fast[0], exact[0])  # it did run in float16
    monkeypatch.setattr(encoder_module, "HALF_TOLERANCE", 1.0 + 1e-9)  # nothing agrees
    strict = XClipEncoder(str(xclip_checkpoint), half=True)
    for mine, theirs in zip(strict.encode_clips(pixels), exact):
        np.testing.assert_array_equal(mine, theirs)
    assert not strict.half


def test_index_on_cpu_and_a_missing_gpu_is_one_line(video_dir, known_videos):
    red = known_videos["red.mp4"].path
    report = run_json("index", red, "--device", "cpu")
    assert (report["indexed"], report["failed"]) == (1, [])
    result = run("index", red, "--device", "cuda")
    assert result.exit_code == 2
    assert result.stderr.startswith("clipdex: error: --device cuda: no CUDA GPU is available")
    assert result.stderr.count("\n") == 1
    bad = run("index", red, "--device", "tpu")
    assert bad.exit_code == 2 and "unknown device 'tpu'" in bad.stderr
