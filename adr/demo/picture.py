"""The demo picture: a talking head whose mouth follows the phones of the current line.

One still portrait (scikit-image's bundled ``astronaut`` photograph) is turned into three
"actors" by crop, zoom, mirroring and colour grade (:data:`LOOKS`). Each frame shows the
current speaker (cut at line changes; between lines the last speaker holds). The mouth is
animated by a displacement field computed once per actor from dlib's landmarks on the still:
everything below the lip line (lower lip, chin) moves down by up to ``jaw_drop`` times the
mouth width, with a smooth fall-off towards the mouth corners and below the chin, and a dark
mouth cavity fills the gap. Per frame the field is scaled by the viseme openness of the phone
being spoken (:func:`openness_track`) and applied with ``cv2.remap``.

:func:`write_picture` encodes H.264 (yuv420p) with the production audio as AAC, then stamps
the start timecode with an ``ffmpeg`` remux (``-c copy -timecode``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.analysis.avsync import SHUTTER
from adr.core.errors import AdrError
from adr.core.fsio import atomic_path
from adr.core.records import Record
from adr.core.timebase import frames_to_seconds, seconds_to_frames
from adr.core.types import Phone, strict_from_dict

__all__ = [
    "Look",
    "LOOKS",
    "VISEME_OPENNESS",
    "phone_openness",
    "openness_track",
    "ActorRig",
    "landmarks",
    "make_rig",
    "render_frame",
    "write_picture",
]

#: Mouth openness (0 closed .. 1 wide) per IPA phone; unknown phones get 0.3.
VISEME_OPENNESS: dict[str, float] = {
    **dict.fromkeys(["ɑː", "ɑ", "æ", "aɪ", "aʊ", "a", "aː", "ʌ", "ɐ", "ɒ"], 1.0),
    **dict.fromkeys(["ɔː", "ɔ", "ɛ", "eɪ", "ɜː", "ɝ", "e"], 0.75),
    **dict.fromkeys(["ə", "ɚ", "oʊ", "ɔɪ", "o", "əʊ"], 0.6),
    **dict.fromkeys(["ɪ", "iː", "i", "ᵻ", "ʊ", "uː", "u", "ɨ"], 0.4),
    **dict.fromkeys(["p", "b", "m"], 0.0),
    **dict.fromkeys(["f", "v"], 0.1),
    **dict.fromkeys(["w", "ɹ", "r", "θ", "ð"], 0.2),
    **dict.fromkeys(["t", "d", "n", "l", "s", "z", "ɾ"], 0.25),
    **dict.fromkeys(["ʃ", "ʒ", "tʃ", "dʒ", "j"], 0.3),
    **dict.fromkeys(["k", "ɡ", "ŋ", "h"], 0.35),
    "sil": 0.0,
}


@dataclass(frozen=True)
class Look(Record):
    """How an actor's shot is framed and graded.

    Attributes
    ----------
    center : tuple of float
        Crop centre (x, y) in the source photograph (512x512).
    height : float
        Crop height in source pixels (the width follows the output aspect).
    mirror : bool
        Flip left-right.
    gain : tuple of float
        Per-channel (R, G, B) multipliers.
    saturation : float
        1 keeps the colours, 0 is grey.
    """

    center: tuple[float, float]
    height: float
    mirror: bool
    gain: tuple[float, float, float]
    saturation: float = 1.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Look:
        d = dict(data)
        d["center"], d["gain"] = tuple(d["center"]), tuple(d["gain"])
        return strict_from_dict(cls, d)


#: The three actors' shots.
LOOKS: dict[str, Look] = {
    "MAYA": Look((220.0, 130.0), 180.0, False, (1.08, 1.0, 0.9), 1.05),
    "KAL": Look((222.0, 128.0), 150.0, True, (0.86, 0.97, 1.15), 0.7),
    "JOE": Look((215.0, 136.0), 210.0, False, (0.95, 1.07, 0.9), 0.45),
}


def phone_openness(symbol: str) -> float:
    """Viseme openness of one IPA phone in [0, 1]."""
    return VISEME_OPENNESS.get(symbol, 0.3)


def openness_track(
    phones: list[Phone], num_frames: int, fps: float, smooth: float = 2.0
) -> np.ndarray:
    """Mouth openness per picture frame from timed phones.

    Each frame takes the phones' openness weighted by their overlap with its exposure, the
    first :data:`adr.analysis.avsync.SHUTTER` of the frame's interval (a 180 degree shutter:
    ``[f / fps, (f + 0.5) / fps)``); the track is then smoothed with a Gaussian of ``smooth``
    frames full width at half maximum.

    Returns
    -------
    np.ndarray, shape (num_frames,), float32, values in [0, 1]
    """
    track = np.zeros(num_frames)
    for p in phones:
        value = phone_openness(p.symbol)
        if value <= 0 or p.end <= p.start:
            continue
        period = 1.0 / fps
        f0 = max(seconds_to_frames(p.start, period) - 1, 0)
        f1 = min(seconds_to_frames(p.end, period) + 1, num_frames)
        for f in range(f0, f1):
            overlap = min(p.end, frames_to_seconds(f + SHUTTER, period)) - max(
                p.start, frames_to_seconds(f, period)
            )
            if overlap > 0:
                track[f] += value * overlap / (SHUTTER * period)
    sigma = smooth / 2.355
    k = np.arange(-3, 4)
    kernel = np.exp(-0.5 * (k / sigma) ** 2)
    track = np.convolve(track, kernel / kernel.sum(), mode="same")
    return np.clip(track, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True, eq=False)
class ActorRig:
    """One actor's still frame and mouth warp.

    Attributes
    ----------
    still : np.ndarray, shape (H, W, 3), uint8
        The graded frame with the mouth closed (RGB).
    drop : np.ndarray, shape (H, W), float32
        Downward displacement in pixels at full openness.
    cavity : np.ndarray, shape (W,), float32
        Height of the mouth gap in pixels at full openness, per column.
    lip_y : np.ndarray, shape (W,), float32
        Row of the line between the lips, per column.
    box : (int, int, int, int)
        Rows and columns ``(top, bottom, left, right)`` the warp can change.
    """

    still: np.ndarray
    drop: np.ndarray
    cavity: np.ndarray
    lip_y: np.ndarray
    box: tuple[int, int, int, int] = (0, 0, 0, 0)


def _graded_still(photo: np.ndarray, look: Look, size: tuple[int, int]) -> np.ndarray:
    import cv2

    width, height = size
    h = look.height
    w = h * width / height
    cx, cy = look.center
    scale = height / h
    m = np.array([[scale, 0, width / 2 - cx * scale], [0, scale, height / 2 - cy * scale]])
    frame = cv2.warpAffine(
        photo, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    del w
    if look.mirror:
        frame = frame[:, ::-1]
    x = frame.astype(np.float32) / 255.0
    grey = x.mean(axis=2, keepdims=True)
    x = grey + look.saturation * (x - grey)
    x = x * np.asarray(look.gain, dtype=np.float32)
    return np.ascontiguousarray(np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8))


def landmarks(frame: np.ndarray) -> np.ndarray | None:
    """dlib's 68 landmarks of the single face in ``frame`` (RGB), shape (68, 2), or None."""
    import dlib
    import face_recognition_models

    global _DLIB
    if _DLIB is None:
        _DLIB = (
            dlib.get_frontal_face_detector(),
            dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()),
        )
    detector, predictor = _DLIB
    faces = detector(frame, 0)
    if len(faces) != 1:
        return None
    shape = predictor(frame, faces[0])
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


_DLIB: Any = None


def make_rig(look: Look, size: tuple[int, int] = (480, 360), jaw_drop: float = 0.36) -> ActorRig:
    """Build an actor's still and warp field.

    Parameters
    ----------
    look : Look
        Framing and grade.
    size : (int, int)
        Output (width, height).
    jaw_drop : float
        Largest jaw drop as a fraction of the mouth width.
    """
    from skimage import data

    still = _graded_still(data.astronaut(), look, size)
    pts = landmarks(still)
    if pts is None:
        raise AdrError("demo picture", "the face detector does not find the demo face")
    width, height = size
    left, right = pts[48], pts[54]
    mouth_w = float(np.hypot(*(right - left)))
    cx = float(pts[[48, 54], 0].mean())
    # the line between the lips, per column: corners 60, 64 and the midpoints of 61/67,
    # 62/66, 63/65, extended flat beyond the corners
    knots = np.array(
        [
            pts[60],
            0.4 * pts[61] + 0.6 * pts[67],
            0.4 * pts[62] + 0.6 * pts[66],
            0.4 * pts[63] + 0.6 * pts[65],
            pts[64],
        ]
    )
    knots = knots[np.argsort(knots[:, 0])]
    chin_y = float(pts[8, 1])
    amount = jaw_drop * mouth_w
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)[:, None]
    lip_y = np.interp(xs, knots[:, 0], knots[:, 1]).astype(np.float32)
    ys = ys - lip_y[None, :] + float(lip_y[int(round(cx))])  # rows relative to the lip curve
    lip_y_c = float(lip_y[int(round(cx))])
    # at the lips a lens that closes at the corners; by the chin the whole jaw moves
    lens = np.clip(1.0 - ((xs - cx) / (0.5 * mouth_w)) ** 2, 0.0, 1.0) ** 1.2
    jaw = np.exp(-(((xs - cx) / (0.9 * mouth_w)) ** 2))
    towards_chin = np.clip((ys - lip_y_c) / max(chin_y - lip_y_c, 1.0), 0.0, 1.0)
    below_chin = np.clip((ys - chin_y) / (0.8 * mouth_w), 0.0, 1.0)
    down = np.where(ys >= lip_y_c, 1.0 - below_chin**2 * (3 - 2 * below_chin), 0.0)
    profile = (1 - towards_chin) * lens[None, :] + towards_chin * jaw[None, :]
    drop = (amount * profile * down).astype(np.float32)
    cavity = (amount * lens).astype(np.float32)
    moving = np.argwhere(drop > 0.3)
    top, left = moving.min(axis=0)
    bottom, right = moving.max(axis=0)
    box = (
        max(int(top) - 2, 0),
        min(int(bottom + amount) + 3, height),
        max(int(left) - 2, 0),
        min(int(right) + 3, width),
    )
    return ActorRig(still, drop, cavity, lip_y, box)


def render_frame(rig: ActorRig, openness: float) -> np.ndarray:
    """The actor's frame with the mouth ``openness`` (0..1) open, shape (H, W, 3) uint8 RGB."""
    import cv2

    if openness <= 1e-3:
        return rig.still
    top, bottom, left, right = rig.box
    h, w = bottom - top, right - left
    map_x = np.broadcast_to(np.arange(left, right, dtype=np.float32), (h, w))
    map_y = (
        np.arange(top, bottom, dtype=np.float32)[:, None]
        - openness * rig.drop[top:bottom, left:right]
    )
    patch = cv2.remap(
        rig.still,
        np.ascontiguousarray(map_x),
        np.ascontiguousarray(map_y),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    gap = openness * rig.cavity[left:right]  # (w,)
    rows = np.arange(top, bottom, dtype=np.float32)[:, None] - rig.lip_y[None, left:right]
    inside = np.clip(np.minimum(rows + 0.5, gap[None, :] - rows - 0.5) + 0.5, 0.0, 1.0)
    inside *= np.clip(gap, 0.0, 1.0)[None, :]
    depth = np.clip(rows / np.maximum(gap[None, :], 1.0), 0.0, 1.0)
    dark = np.stack([55 - 25 * depth, 22 - 10 * depth, 28 - 12 * depth], axis=-1)
    alpha = inside[..., None]
    blended = patch.astype(np.float32) * (1 - alpha) + dark * alpha
    frame = rig.still.copy()
    frame[top:bottom, left:right] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return frame


def write_picture(
    path: Path,
    frames: Callable[[int], np.ndarray],
    num_frames: int,
    fps: int,
    audio: np.ndarray,
    sample_rate: int,
    start_timecode: str,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """Encode frames and audio to an H.264/AAC .mp4 with a start timecode.

    Parameters
    ----------
    path : Path
        Output .mp4 (written atomically).
    frames : callable
        ``frames(i)`` returns frame ``i``, shape (H, W, 3) uint8 RGB.
    num_frames : int
        Number of frames.
    fps : int
        Frame rate (integer rates only).
    audio : np.ndarray, shape (N,)
        Mono audio in [-1, 1] at ``sample_rate``.
    start_timecode : str
        ``"HH:MM:SS:FF"`` of the first frame.
    on_frame : callable, optional
        Called with the frame index after each frame (progress).
    """
    with atomic_path(path) as final:
        raw = final.with_name(final.stem + ".raw.mp4")
        try:
            _encode(raw, frames, num_frames, fps, audio, sample_rate, on_frame)
            _stamp_timecode(raw, final, start_timecode)
        finally:
            raw.unlink(missing_ok=True)
    return path


def _encode(
    raw: Path,
    frames: Callable[[int], np.ndarray],
    num_frames: int,
    fps: int,
    audio: np.ndarray,
    sample_rate: int,
    on_frame: Callable[[int], None] | None,
) -> None:
    import av

    first = frames(0)
    with av.open(str(raw), "w") as box:
        video = box.add_stream("libx264", rate=fps)
        video.width, video.height = first.shape[1], first.shape[0]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast"}
        sound = box.add_stream("aac", rate=sample_rate)
        sound.layout = "mono"
        hop = 1024
        pos = 0
        pcm = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        for i in range(num_frames):
            image = first if i == 0 else frames(i)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                box.mux(packet)
            while pos < len(pcm) and pos < (i + 1) * sample_rate / fps:
                block = av.AudioFrame.from_ndarray(
                    pcm[None, pos : pos + hop], format="fltp", layout="mono"
                )
                block.sample_rate = sample_rate
                block.pts = pos
                for packet in sound.encode(block):
                    box.mux(packet)
                pos += hop
            if on_frame is not None:
                on_frame(i)
        while pos < len(pcm):
            block = av.AudioFrame.from_ndarray(
                pcm[None, pos : pos + hop], format="fltp", layout="mono"
            )
            block.sample_rate, block.pts = sample_rate, pos
            for packet in sound.encode(block):
                box.mux(packet)
            pos += hop
        for packet in video.encode():
            box.mux(packet)
        for packet in sound.encode():
            box.mux(packet)


def _stamp_timecode(raw: Path, final: Path, start_timecode: str) -> None:
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(raw),
        "-map",
        "0",
        "-c",
        "copy",
        "-timecode",
        start_timecode,
        str(final),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise AdrError("ffmpeg", "not installed (apt-get install ffmpeg)") from None
    if done.returncode != 0:
        raise AdrError(final, f"ffmpeg could not set the timecode ({done.stderr.strip()[-200:]})")
