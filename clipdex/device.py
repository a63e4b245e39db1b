"""Where the model runs: ``--device auto|cpu|cuda[:N]|mps``, and what suits that device.

``auto`` is the first CUDA GPU when torch sees one, else the CPU (MPS is used only when asked
for). A device that is not there is a ``DeviceError`` naming what torch does see, never a
silent fall-back to the CPU. Decoding stays on CPU threads whatever the device.
"""

from __future__ import annotations

import re

DEVICE_CHOICES = "auto|cpu|cuda[:N]|mps"
# Clips per forward pass of the video tower when --batch is not given. On a CPU a batch of one
# is as fast per clip as a batch of eight (8 keeps memory small); a GPU needs larger batches
# to be busy: 32 clips are 256 frames, under 2 GB of activations for the base models.
BATCH_CLIPS = {"cpu": 8, "cuda": 32, "mps": 16}
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceError(Exception):
    """The device asked for does not exist here (or is not a device name)."""


def check_device_name(name: str) -> str:
    """``name`` if it is a device clipdex accepts (without importing torch), else DeviceError."""
    if not _PATTERN.match(name):
        raise DeviceError(f"unknown device {name!r}: expected {DEVICE_CHOICES}")
    return name


def resolve_device(name: str) -> str:
    """The torch device for ``name``: ``auto`` picks CUDA if available, else ``cpu``."""
    import torch

    check_device_name(name)
    if name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if count == 0:
            build = (
                "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}"
            )
            raise DeviceError(
                f"--device {name}: no CUDA GPU is available (torch {torch.__version__} is built "
                f"{build}); use --device cpu or auto"
            )
        if index >= count:
            raise DeviceError(
                f"--device {name}: only {count} CUDA GPU(s) here (cuda:0..{count - 1})"
            )
        return f"cuda:{index}"
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("--device mps: Metal (MPS) is not available here; use --device cpu")
    return name


def device_kind(device: str) -> str:
    """``cpu``, ``cuda`` or ``mps`` for a resolved device."""
    return device.partition(":")[0]


def default_batch_clips(device: str) -> int:
    """Clips per forward pass for a resolved device."""
    return BATCH_CLIPS[device_kind(device)]
