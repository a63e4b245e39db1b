"""A still picture as a query clip: ``frames_per_clip`` copies of it, prepared like video frames.

``clipdex similar IMAGE`` and the server's upload search embed a PNG, JPEG or WebP picture with
the video tower. The picture is turned upright (EXIF orientation), converted to RGB, resized to
the working size by the same swscale bilinear conversion that decoded video frames go through
(indexer/frames.py), center-cropped and normalised like them; the clip is that frame repeated,
a shot in which nothing moves.

The format is recognised by content (its first bytes), never by the file's name.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from indexer.embed import ClipEncoder
from indexer.frames import center_crop, scaled_size
from indexer.preprocess import to_pixel_values
from indexer.sampling import SamplingPlan

PICTURE_FORMATS = ("PNG", "JPEG", "WebP")
MAX_PIXELS = 50_000_000  # a larger picture is refused before it is decoded (a decompression bomb)


class PictureError(ValueError):
    """A file recognised as a picture that cannot be read. ``reason`` is short."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: not a readable picture ({reason})")
        self.name = name
        self.reason = reason


def picture_format(head: bytes) -> str | None:
    """The format ``head`` (a file's first 12 bytes or more) starts like: PNG, JPEG or WebP,
    else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


def is_picture(path: Path) -> bool:
    with open(path, "rb") as file:
        return picture_format(file.read(12)) is not None


def embed_picture(
    source: Path | bytes, encoder: ClipEncoder, plan: SamplingPlan, name: str = ""
) -> np.ndarray:
    """The unit video embedding of a picture (a file, or its bytes) as a still clip.

    Raises PictureError when it cannot be decoded; ``name`` names it in the message.
    """
    frame = _working_frame(source, plan, name or str(source))
    clip = np.stack([frame] * plan.frames_per_clip)
    spec = encoder.preprocess
    embeddings, _ = encoder.encode_clips(to_pixel_values([clip], spec.mean, spec.std))
    vector = embeddings[0]
    return vector / np.linalg.norm(vector)


def _working_frame(source: Path | bytes, plan: SamplingPlan, name: str) -> np.ndarray:
    """The picture, upright and RGB, at the working size and center-cropped, as decoded video
    frames are (swscale bilinear, as indexer.frames converts them)."""
    from PIL import Image, ImageOps

    data = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with Image.open(data, formats=[f.upper() for f in PICTURE_FORMATS]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PictureError(name, f"{image.width}x{image.height} is too large")
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except PictureError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise PictureError(name, str(exc) or type(exc).__name__) from exc
    height, width = rgb.shape[:2]
    out_w, out_h = scaled_size(width, height, plan.shortest_edge)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    resized = frame.reformat(
        width=out_w, height=out_h, format="rgb24", interpolation="BILINEAR"
    ).to_ndarray()
    return center_crop(resized, plan.crop_size)
