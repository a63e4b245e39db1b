"""OpenCV is the headless build: shot detection must import on a server without libGL."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

# Import what `clipdex index` imports for shot detection, then list the shared libraries the
# process has mapped: a GUI build of cv2 maps libGL (and GTK/Qt), the headless one none of them.
_PROBE = """
import cv2, indexer.shots
print(cv2.getBuildInformation().split("GUI:", 1)[1].splitlines()[0].strip())
maps = open("/proc/self/maps").read()
print(sorted({line.split()[-1] for line in maps.splitlines() if "libGL" in line or "libgtk" in line or "libQt" in line}))
"""


@pytest.mark.parametrize("distribution", ["opencv-python", "scenedetect"])
def test_gui_opencv_is_not_installed(distribution: str) -> None:
    """Neither the GUI OpenCV nor the scenedetect distribution that requires it is installed:
    two cv2 builds in one folder overwrite each other's files, whichever was installed last wins."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution(distribution)
    assert importlib.metadata.distribution("opencv-python-headless")
    assert importlib.metadata.distribution("scenedetect-headless")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_shot_detection_loads_no_gui_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    gui, mapped = result.stdout.splitlines()[-2:]
    assert gui == "NONE"
    assert mapped == "[]"
