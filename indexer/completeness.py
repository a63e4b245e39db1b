"""After decoding: how long the video really is, and whether only part of the file was read.

A container's duration is a claim. A file cut off mid-download keeps its full duration in the
header (faststart mp4, Matroska) while its frames stop at the cut; one flipped bit in an AVI's
frame count makes a 4 s file claim minutes. The frames decoded are the evidence: the stored
duration is how far decoding got unless the header agrees with it, and a file is *partial* when
decoding ended well before the stated duration because the file is shorter than its container
declares (truncated) or because decoding failed midway, or, for formats that declare no size
(FLV, Ogg...), just because it ended well before. A header that merely overstates a complete
file (all its declared bytes there, no decoding error) is corrected without calling it partial.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.probe import VideoInfo

# A complete file's decoding may end a little before its stated duration (the last frame's
# display time, B-frame reordering, audio running past the picture): within this slack the
# header's figure is kept.
SLACK_S = 0.5
SLACK_FRAMES = 3
# With evidence that the file is damaged (missing bytes, a decoding error), losing more than
# this many frames makes it partial: "a frame or so" short is not worth a warning.
PARTIAL_FRAMES = 2


@dataclass(frozen=True)
class Completeness:
    """``duration_s``: what to store; ``partial``: why only part of the file was indexed."""

    duration_s: float
    partial: str | None = None


def judge(
    info: VideoInfo, size_bytes: int, decoded_s: float, stopped: str | None = None
) -> Completeness:
    """The verdict on a file whose frames were decoded up to ``decoded_s`` seconds (the end of
    the last clip), its probe ``info`` and byte size; ``stopped``: why decoding failed midway,
    if it did."""
    stated = info.duration_s
    frame_s = 1 / info.fps if info.fps > 0 else 0.04
    missing_s = stated - decoded_s
    slack_s = max(SLACK_S, SLACK_FRAMES * frame_s)
    cut = info.declared_bytes is not None and info.declared_bytes > size_bytes
    of = f" of {stated:.2f} s" if stated > 0 else ""
    if (cut or stopped) and (stated <= 0 or missing_s > PARTIAL_FRAMES * frame_s + 1e-6):
        if cut:
            reason = f"truncated ({size_bytes} of {info.declared_bytes} bytes): "
            reason += f"decoded {decoded_s:.2f} s{of}"
        else:
            reason = f"{stopped}; decoded {decoded_s:.2f} s{of}"
        return Completeness(decoded_s, reason)
    if info.declared_bytes is None and info.duration_is_video and missing_s > slack_s:
        # No size to check (FLV, Ogg...): a header promising more video than the file holds is
        # the only sign of a cut, and is taken as one (not the container's duration: its audio
        # may simply run longer).
        reason = f"decoding ended early (truncated or damaged): decoded {decoded_s:.2f} s{of}"
        return Completeness(decoded_s, reason)
    # Complete: a header that overstates the length (or states none) gives way to decoding.
    agrees = 0 <= missing_s <= slack_s
    return Completeness(stated if agrees else decoded_s)
