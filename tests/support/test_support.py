"""Tests of the test-support helpers: the offline checkpoint and the synthetic videos."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from transformers import AutoProcessor, AutoTokenizer, XCLIPModel, XCLIPProcessor

from tests.support import videos
from tests.support.checkpoint import build_checkpoint
from tests.support.videos import SyntheticVideo


def _frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(container.streams.video[0]))


def _clip_pixels(processor: XCLIPProcessor, path: Path) -> torch.Tensor:
    """8 evenly spaced frames of ``path`` through the checkpoint's processor: (1, 8, 3, 224, 224)."""
    frames = _frames(path)
    picks = np.linspace(0, len(frames) - 1, 8).round().astype(int)
    arrays = [frames[i].to_ndarray(format="rgb24") for i in picks]
    return processor(videos=arrays, return_tensors="pt")["pixel_values"]


@pytest.fixture(scope="module")
def model(xclip_checkpoint: Path) -> XCLIPModel:
    return XCLIPModel.from_pretrained(xclip_checkpoint).eval()


def test_checkpoint_folder_has_the_real_layout(xclip_checkpoint: Path) -> None:
    names = {p.name for p in xclip_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "vocab.json"} <= names
    assert {"merges.txt", "tokenizer_config.json", "special_tokens_map.json"} <= names


def test_tokenizer_splits_a_query_into_several_tokens(xclip_checkpoint: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(xclip_checkpoint)
    ids = tokenizer("a dog jumping into a lake")["input_ids"]
    assert len(ids) > 2 + 2  # more than one token besides <|startoftext|> and <|endoftext|>
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    # X-CLIP pools the text at argmax(input_ids): <|endoftext|> must be the largest id.
    assert tokenizer.eos_token_id == max(tokenizer.get_vocab().values())
    assert tokenizer.model_max_length == 77
    assert len(tokenizer("zebra xylophone quokka!")["input_ids"]) > 3  # unseen words still encode


def test_processor_makes_one_clip_of_eight_frames(xclip_checkpoint: Path) -> None:
    processor = AutoProcessor.from_pretrained(xclip_checkpoint)
    assert isinstance(processor, XCLIPProcessor)
    frames = [np.full((240, 320, 3), 10 * i, np.uint8) for i in range(8)]
    pixels = processor(videos=frames, return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 8, 3, 224, 224)


def test_checkpoint_embeddings_are_finite_and_distinct(
    xclip_checkpoint: Path, model: XCLIPModel, known_videos: dict[str, SyntheticVideo]
) -> None:
    processor = XCLIPProcessor.from_pretrained(xclip_checkpoint)
    pixels = torch.cat(
        [_clip_pixels(processor, known_videos[n].path) for n in ("red.mp4", "still.mp4")]
    )
    text = processor(
        text=["a dog jumping into a lake", "a red car"], return_tensors="pt", padding=True
    )
    with torch.no_grad():
        video = model.get_video_features(pixel_values=pixels).pooler_output
        words = model.get_text_features(**text).pooler_output
    for embeddings in (video, words):
        assert embeddings.shape == (2, model.config.projection_dim)
        assert torch.isfinite(embeddings).all()
        cosine = torch.nn.functional.cosine_similarity(embeddings[0], embeddings[1], dim=0)
        assert cosine < 0.99


def test_checkpoint_is_deterministic_and_reloads_identically(
    tmp_path: Path, xclip_checkpoint: Path, model: XCLIPModel
) -> None:
    again = build_checkpoint(tmp_path / "again")
    assert (again / "model.safetensors").read_bytes() == (
        xclip_checkpoint / "model.safetensors"
    ).read_bytes()
    pixels = torch.rand(2, 8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ids = AutoTokenizer.from_pretrained(again)(
        ["a dog", "a red car"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        first = model(**ids, pixel_values=pixels)
        second = XCLIPModel.from_pretrained(again).eval()(**ids, pixel_values=pixels)
    assert torch.equal(first.logits_per_video, second.logits_per_video)
    assert model.logit_scale.item() == pytest.approx(model.config.logit_scale_init_value)


def test_known_cuts_reads_back_with_expected_frames_and_duration(
    known_videos: dict[str, SyntheticVideo],
) -> None:
    facts = known_videos["cuts.mp4"]
    frames = _frames(facts.path)
    assert len(frames) == facts.frames
    assert frames[-1].time + 1 / facts.fps == pytest.approx(facts.duration_s, abs=1 / facts.fps)
    means = [f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0) for f in frames]
    jumps = [np.abs(b - a).sum() for a, b in itertools.pairwise(means)]
    cuts = sorted(frames[i + 1].time for i in np.argsort(jumps)[-2:])
    assert cuts == pytest.approx(list(facts.cuts_s))


def test_variable_frame_rate_has_irregular_timestamps_and_a_cut_at_known_time(
    tmp_path: Path,
) -> None:
    path = videos.variable_frame_rate(tmp_path / "vfr.mp4", cut_s=2.0, seconds=4.0)
    frames = _frames(path)
    gaps = np.round(np.diff([f.time for f in frames]), 3)
    assert set(gaps) == {0.02, 0.1}
    means = [f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0) for f in frames]
    first_blue = [blue > red for red, _, blue in means].index(True)
    assert frames[first_blue].time == pytest.approx(2.0)
    average_fps = len(frames) / 4.0
    assert abs(first_blue / average_fps - 2.0) > 1.0  # counting frames would misplace the cut


@pytest.mark.parametrize("rotation, reads_back", [(90, 90), (-90, -90), (180, -180), (270, -90)])
def test_rotated_reads_back_its_rotation(tmp_path: Path, rotation: int, reads_back: int) -> None:
    frame = _frames(videos.rotated(tmp_path / "rotated.mp4", rotation=rotation, seconds=0.2))[0]
    assert frame.rotation == reads_back
    pixels = frame.to_ndarray(format="rgb24")  # stored unrotated: red above blue
    assert pixels[60, 200, 0] > 200 and pixels[180, 200, 2] > 200


def test_moving_shapes_and_solid_color_have_expected_length(tmp_path: Path) -> None:
    moving = _frames(videos.moving_shapes(tmp_path / "m.mp4", seconds=1.0, fps=10, seed=3))
    assert len(moving) == 10
    assert not np.array_equal(moving[0].to_ndarray(), moving[-1].to_ndarray())
    solid = _frames(videos.solid_color(tmp_path / "s.mp4", (0, 255, 0), seconds=0.4, fps=25))
    assert len(solid) == 10
    assert solid[0].to_ndarray(format="rgb24")[120, 160].tolist() == pytest.approx(
        [0, 255, 0], abs=4
    )


@pytest.mark.parametrize(
    "codec, name, decoder", [("libvpx-vp9", "v.webm", "vp9"), ("mpeg4", "v.avi", "mpeg4")]
)
def test_encode_with_changes_codec_and_size(
    tmp_path: Path, codec: str, name: str, decoder: str
) -> None:
    source = videos.known_cuts(tmp_path / "src.mp4", [(0.4, (200, 0, 0)), (0.4, (0, 0, 200))])
    path = videos.encode_with(tmp_path / name, source, codec, size=(160, 120))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == decoder
        frames = list(container.decode(stream))
    assert len(frames) == 20 and (frames[0].width, frames[0].height) == (160, 120)


def test_bad_inputs_are_not_readable_videos(
    tmp_path: Path, known_videos: dict[str, SyntheticVideo]
) -> None:
    unopenable = [
        videos.truncated_mp4(tmp_path / "truncated.mp4", known_videos["red.mp4"].path),
        videos.random_bytes(tmp_path / "random.mp4", seed=1),
        videos.empty_file(tmp_path / "empty.mp4"),
        videos.text_file(tmp_path / "notes.avi"),
    ]
    for path in unopenable:
        with pytest.raises(av.FFmpegError):
            av.open(str(path)).close()
    for name in ("sound.mp4", "sound.m4a"):
        with av.open(str(videos.audio_only_mp4(tmp_path / name, seconds=0.5))) as container:
            assert not container.streams.video
            assert container.streams.audio[0].codec_context.name == "aac"


def test_sample_videos_are_real_videos(sample_videos: list[Path]) -> None:
    assert sample_videos == sorted(sample_videos, key=lambda p: p.name)
    for path in sample_videos:
        with av.open(str(path)) as container:
            assert container.streams.video[0].frames > 0


def test_library_dir_is_exported(library_dir: Path, xclip_checkpoint: Path) -> None:
    assert os.environ["CLIPDEX_LIBRARY"] == str(library_dir) and library_dir.is_dir()
    assert os.environ["CLIPDEX_MODEL"] == str(xclip_checkpoint)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


@pytest.mark.allow_error_logs
def test_marked_test_may_log_errors() -> None:
    logging.getLogger("clipdex.test").error("expected in this test")


def test_unmarked_error_log_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import no_error_logs, pytest_configure\n"
    )
    (tmp_path / "test_logs.py").write_text(
        "import logging\n"
        "def test_logs():\n"
        "    logging.getLogger('x').error('boom')\n"
        "def test_warns():\n"
        "    logging.getLogger('x').warning('fine')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert "2 passed, 1 error" in run.stdout, run.stdout + run.stderr
    assert "unexpected ERROR record" in run.stdout and "x ERROR: boom" in run.stdout
