"""Small media files for tests, made with the ffmpeg command line."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly, overwriting its output; fail the test on an error."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_picture(
    path: Path,
    seconds: float,
    *,
    size: str = "64x48",
    rate: str | int = 25,
    tone: bool = False,
    options: Sequence[str] = (),
) -> Path:
    """Write ffmpeg's test pattern as MPEG-4 video of ``seconds`` at ``rate`` frames/s; with
    ``tone``, a 440 Hz sine at 48 kHz as 16-bit PCM beside it. ``options`` (``-timecode``
    ...) go before the file name."""
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if tone:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", "mpeg4"]
    if tone:
        args += ["-c:a", "pcm_s16le"]
    ffmpeg(*args, *options, str(path))
    return path
