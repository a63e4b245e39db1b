"""Perceptual frame hashes: what they tolerate, what they flag, and how the indexer keeps them."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from indexer.framehash import FrameHasher, frame_hash
from indexer.frames import decode_frames
from indexer.probe import probe
from indexer.sampling import SamplingPlan, iter_clips
from indexer.segment import SegmentRules
from tests.support.dedup_set import crop_10, grayscale, half_size, letterbox


def _distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@pytest.fixture(scope="module")
def real_frames(sample_videos) -> list[np.ndarray]:
    """A frame from each of three real videos, decoded at full size."""
    frames = []
    for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"):
        path = next(p for p in sample_videos if p.name == name)
        frames.append(next(f.rgb for i, f in enumerate(decode_frames(path, 360)) if i == 20))
    return frames


def test_hash_survives_copies_and_separates_different_frames(real_frames) -> None:
    for frame in real_frames:
        value, informative = frame_hash(frame)
        assert informative
        assert _distance(value, frame_hash(half_size(frame))[0]) <= 4
        assert _distance(value, frame_hash(grayscale(frame))[0]) <= 4
        assert _distance(value, frame_hash(letterbox(frame))[0]) <= 6
        assert _distance(value, frame_hash(crop_10(frame))[0]) <= 14
    values = [frame_hash(f)[0] for f in real_frames]
    assert min(_distance(a, b) for i, a in enumerate(values) for b in values[i + 1 :]) >= 16


@pytest.mark.parametrize("color", [(0, 0, 0), (255, 255, 255), (200, 30, 30)])
def test_blank_and_single_colour_frames_are_uninformative(color) -> None:
    frame = np.empty((224, 300, 3), np.uint8)
    frame[:] = color
    noisy = np.clip(
        frame.astype(int) + np.random.default_rng(0).integers(-2, 3, frame.shape), 0, 255
    )
    assert not frame_hash(frame)[1]
    assert not frame_hash(noisy.astype(np.uint8))[1]


def test_hasher_keeps_a_fixed_grid_of_two_per_second() -> None:
    hasher = FrameHasher()
    frame = np.zeros((8, 8, 3), np.uint8)
    # 25 fps for 2 s, then a variable rate (gaps of 0.3 s and 0.7 s).
    times = [i / 25 for i in range(50)] + [2.0, 2.3, 3.0, 3.3, 3.6]
    for t in times:
        hasher(t, frame)
    assert hasher.result.times_s == pytest.approx([0.0, 0.52, 1.0, 1.52, 2.0, 3.0, 3.6])


def test_iter_clips_hook_sees_every_frame_and_changes_nothing(known_videos) -> None:
    video = known_videos["cuts.mp4"]
    plan = SamplingPlan(
        SegmentRules(2.0, 10.0), frames_per_clip=8, shortest_edge=224, crop_size=224
    )
    seen: list[float] = []
    hooked = list(iter_clips(video.path, plan, video.fps, on_frame=lambda t, *_: seen.append(t)))
    plain = list(iter_clips(video.path, plan, video.fps))
    assert len(seen) == video.frames and seen == sorted(seen)
    assert [(c.start_s, c.end_s) for c in hooked] == [(c.start_s, c.end_s) for c in plain]
    assert all((a.frames == b.frames).all() for a, b in zip(hooked, plain))


def test_reindexing_a_file_that_now_fails_drops_its_hashes(
    tmp_path, known_videos, xclip_checkpoint
) -> None:
    from clipdex.encoder import XClipEncoder
    from indexer.pipeline import Indexer
    from storage import frame_hashes as hash_repo
    from storage.library import Library
    from tests.support.library import bind_settings

    folder = tmp_path / "videos"
    folder.mkdir()
    target = folder / "red.mp4"
    shutil.copyfile(known_videos["red.mp4"].path, target)
    encoder = XClipEncoder(str(xclip_checkpoint))
    with Library.open(tmp_path / "lib") as library:
        indexer = Indexer(library, encoder, library.bind(bind_settings(encoder)))
        assert indexer.run([folder]).indexed == 1
        with library.session() as session:
            (stored,) = hash_repo.indexed_video_hashes(session=session)
        assert len(stored.times_s) == 6 and probe(target).duration_s == pytest.approx(3.0, abs=0.1)
        target.write_bytes(b"not a video any more")
        os.utime(target, ns=(1, 1))
        assert len(indexer.run([folder]).failed) == 1
        with library.session() as session:
            assert hash_repo.indexed_video_hashes(session=session) == []
            assert session.get(hash_repo.FrameHashRow, stored.video_id) is None


def test_a_mirrored_frame_hashes_to_the_flip_mask_of_the_original(real_frames) -> None:
    from indexer.framehash import region_hashes
    from storage.frame_hashes import FLIP_MASK

    for frame in real_frames:
        value, _ = frame_hash(frame)
        mirrored, _ = frame_hash(np.ascontiguousarray(frame[:, ::-1]))
        assert _distance(value ^ FLIP_MASK, mirrored) <= 2 < _distance(value, mirrored)
        # A centred crop of a fifth is its centre region's match, not the whole frame's.
        height, width = frame.shape[:2]
        cropped = frame[height // 10 : height - height // 10, width // 10 : width - width // 10]
        regions, _ = region_hashes(frame)
        assert _distance(regions[1], frame_hash(cropped)[0]) <= 6


def test_an_inset_box_is_found_where_it_was_drawn() -> None:
    import cv2

    from indexer.inset import find_inset

    rng = np.random.default_rng(3)

    def smooth(height: int, width: int) -> np.ndarray:
        field = rng.uniform(0, 255, (4, 4)).astype(np.float32)
        return cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)

    # Every frame: a smooth picture, and another one in a box near the bottom-right corner.
    stack = np.stack([smooth(64, 64) for _ in range(12)])
    plain = stack.copy()
    for frame in stack:
        frame[32:62, 30:62] = smooth(30, 32)
    box = find_inset(np.clip(stack, 0, 255).astype(np.uint8))
    assert box is not None and np.abs(np.array(box) - (30, 32, 62, 62)).max() <= 2
    assert find_inset(np.clip(plain, 0, 255).astype(np.uint8)) is None


def test_a_hue_turn_keeps_the_value_hash_where_it_reorders_the_luma() -> None:
    """Saturated colour fields turned 40 degrees in hue, brighter and with more contrast: their
    luma hash is as far as an unrelated frame's, their V hash stays close."""
    from indexer.framehash import region_hashes
    from storage.frame_hashes import REGION_NAMES
    from tests.support.edit_set import blobs_frames, colour

    full, value = REGION_NAMES.index("full"), REGION_NAMES.index("value")
    luma, brightest = [], []
    for seed in (100, 101, 102):
        frame = blobs_frames(1.0, seed, (320, 180))[0]
        before, flags = region_hashes(frame)
        after, _ = region_hashes(colour(frame))
        assert flags[value]
        luma.append(_distance(before[full], after[full]))
        brightest.append(_distance(before[value], after[value]))
    assert max(brightest) <= 8 < min(luma)


def test_corner_cells_beside_an_inset_show_only_the_background() -> None:
    """An inset at 60 % of the sides in the top right covers part of every quadrant but none
    of the three other corner cells."""
    from indexer.framehash import region_hashes
    from storage.frame_hashes import REGION_NAMES
    from tests.support.edit_set import blobs_frames, inset

    background, picture = blobs_frames(1.0, 100, (320, 180))[0], blobs_frames(1.0, 7, (320, 180))[0]
    plain, _ = region_hashes(background)
    shown, _ = region_hashes(inset(background, picture, 0.6, 1))
    cells = [REGION_NAMES.index(name) for name in ("c0", "c2", "c3")]
    assert all(_distance(plain[i], shown[i]) <= 2 for i in cells)
    quadrants = [REGION_NAMES.index(name) for name in ("q0", "q1", "q2", "q3")]
    assert min(_distance(plain[i], shown[i]) for i in quadrants) > 8


def _decoded_hash_inputs(path, seconds: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """What the indexer shows the hasher: (grey picture, small RGB) at its ticks."""
    ticks = FrameHasher()
    shown = []
    for frame in decode_frames(path, 224):
        if frame.time_s >= seconds:
            break
        if ticks.wants(frame.time_s):
            shown.append((frame.gray, frame.small_upright))
            ticks(frame.time_s, frame.gray, frame.small_upright)
    return shown


def test_hashes_are_the_version_3_hashes_bit_for_bit(sample_videos) -> None:
    """The fast hasher stores exactly what version 3 stored (``tests.support.framehash_v3``,
    the region-at-a-time code it replaced), so libraries need no rehash: a window whose inset
    is found, real footage, bars, flat and tiny frames, grey frames without colour."""
    from indexer.framehash import region_hashes
    from tests.support import framehash_v3
    from tests.support.edit_set import blobs_frames, inset

    background, picture = blobs_frames(3.0, 5, (320, 180)), blobs_frames(3.0, 6, (320, 180))
    boxed = [inset(b, p, 0.45, 3) for b, p in zip(background[::2], picture[::2])]
    shown = [(frame, None) for frame in boxed]  # the first window of 32 shows an inset
    for path in sample_videos:
        shown += _decoded_hash_inputs(path, 6.0)
    rng = np.random.default_rng(0)
    odd = [
        np.zeros((90, 160, 3), np.uint8),
        np.full((90, 160), 200, np.uint8),
        letterbox(boxed[0]),
        rng.integers(0, 256, (17, 23, 3), dtype=np.uint8),
        np.pad(rng.integers(0, 256, (40, 60), dtype=np.uint8), ((20, 20), (0, 0))),
    ]
    shown += [(frame, None) for frame in odd]
    shown = [(i * 0.5, pixels, rgb) for i, (pixels, rgb) in enumerate(shown)]
    hasher = FrameHasher()
    for time_s, pixels, rgb in shown:
        hasher(time_s, pixels, rgb)
    expected = framehash_v3.hash_frames(shown)
    assert hasher.result.hashes == expected[0]
    assert hasher.result.informative == expected[1]
    assert any(row[11] for row in expected[1]) and len(shown) > 60  # an inset was hashed too
    for _, pixels, _ in shown[::5]:
        assert region_hashes(pixels) == framehash_v3.region_hashes(pixels)


def test_the_inset_search_finds_the_version_3_box() -> None:
    """The inset search without NaN bookkeeping picks the box the version 3 code picked: boxes
    of three sizes in each corner (one of them against the frame's edge), none, and noise."""
    from indexer.framehash import thumbnail
    from indexer.inset import find_inset
    from tests.support import framehash_v3
    from tests.support.edit_set import blobs_frames, inset

    background, picture = blobs_frames(1.3, 5, (320, 180)), blobs_frames(1.3, 6, (320, 180))
    stacks = [np.stack([thumbnail(frame) for frame in background])]
    for scale, corner in ((0.35, 0), (0.45, 1), (0.6, 2), (0.45, 3)):
        frames = [inset(b, p, scale, corner) for b, p in zip(background, picture)]
        stacks.append(np.stack([thumbnail(frame) for frame in frames]))
    edge = stacks[2].copy()
    edge[:, :, -8:] = stacks[2][:, :, -16:-8]  # the box's right side pushed onto the edge
    rng = np.random.default_rng(1)
    stacks += [edge, rng.integers(0, 256, (32, 64, 64), dtype=np.uint8)]
    found = [find_inset(stack) for stack in stacks]
    assert found == [framehash_v3.find_inset(stack) for stack in stacks]
    assert found[0] is None and all(box is not None for box in found[1:5])
