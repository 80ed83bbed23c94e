"""Lip tracking on picture: the mouth's opening per frame, and where the lips move.

The mouth is measured with dlib's 68-point landmark model (points 48-67). The face detector
runs only every ``detect_every`` frames or when the track is lost (its cost: docs/decisions.md,
"lips: ..."); in between, the landmarks are fitted from the previous face box, which is then
re-centred on them. The audio/video offset cross-correlates a speech-band audio envelope
with the mouth opening and its rate of change.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from adr.analysis.lip_records import (
    EVENT_DETECTED,
    EVENT_LOST,
    FaceBox,
    LipReport,
    LipResult,
    MouthShape,
    _spans,
)
from adr.core.errors import AdrError
from adr.core.progress import ProgressEvent, ProgressHook
from adr.core.timebase import frames_to_seconds, seconds_to_frames
from adr.core.types import LipTrack

# the records (FaceBox, LipResult ...) are in adr.analysis.lip_records
__all__ = [
    "measure_mouth",
    "mouth_shape",
    "track_lips",
    "visual_speech_activity",
]

_OUTER, _INNER_TOP, _INNER_BOTTOM = (48, 54), (61, 62, 63), (67, 66, 65)


# --------------------------------------------------------------------------- landmarks


@functools.cache
def _models() -> tuple[Any, Any]:
    """dlib's face detector and 68-point shape predictor, loaded once."""
    import dlib
    import face_recognition_models

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()),
    )


def _landmarks(gray: np.ndarray, box: FaceBox) -> np.ndarray:
    """68 landmark points, shape (68, 2) as (x, y) pixels, fitted from ``box``."""
    import dlib

    rect = dlib.rectangle(
        int(round(box.left)), int(round(box.top)), int(round(box.right)), int(round(box.bottom))
    )
    shape = _models()[1](gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def mouth_shape(points: np.ndarray, image_size: tuple[int, int] | None = None) -> MouthShape:
    """Measure the mouth from 68 landmark points.

    Parameters
    ----------
    points : np.ndarray, shape (68, 2)
        Landmarks as (x, y) pixels, dlib / iBUG order.
    image_size : (width, height), optional
        When given, a mouth touching the image border is not valid.
    """
    p = np.asarray(points, dtype=np.float64)
    width = float(np.hypot(*(p[_OUTER[1]] - p[_OUTER[0]])))
    gap = float(np.mean(np.hypot(*(p[list(_INNER_BOTTOM)] - p[list(_INNER_TOP)]).T)))
    face_w = float(np.ptp(p[:, 0]))
    mouth = p[48:68]
    cx, cy = (float(v) for v in mouth.mean(axis=0))
    opening = gap / width if width > 0 else float("nan")
    valid = bool(width > 2 and face_w > 0 and 0.2 < width / face_w < 0.75 and opening < 1.2)
    if image_size is not None:
        w, h = image_size
        valid = valid and bool(
            (mouth >= 1).all() and (mouth[:, 0] < w - 1).all() and (mouth[:, 1] < h - 1).all()
        )
    if not valid:
        return MouthShape.missing()
    return MouthShape(opening, width, gap, cx, cy, True)


def measure_mouth(gray_frame: np.ndarray, box: FaceBox) -> MouthShape:
    """Fit landmarks in ``box`` of a grayscale frame (H, W) uint8 and measure the mouth."""
    gray = np.ascontiguousarray(gray_frame, dtype=np.uint8)
    return mouth_shape(_landmarks(gray, box), (gray.shape[1], gray.shape[0]))


def _detect(gray: np.ndarray, min_face: float) -> list[tuple[FaceBox, float]]:
    """Faces at least ``min_face`` × frame height tall, with detector scores."""
    import cv2

    scale = min(2.0, 80.0 / max(1.0, min_face * gray.shape[0]))
    img = (
        gray
        if abs(scale - 1.0) < 0.05
        else cv2.resize(
            gray,
            None,
            fx=scale,
            fy=scale,
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        )
    )
    rects, scores, _ = _models()[0].run(img, 0, 0.0)
    return [
        (
            FaceBox(r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale),
            float(s),
        )
        for r, s in zip(rects, scores)
    ]


def _iou(a: FaceBox, b: FaceBox) -> float:
    iw = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    ih = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    inter = iw * ih
    return inter / (a.width * a.height + b.width * b.height - inter + 1e-9)


def _choose(faces: list[FaceBox], shape: tuple[int, int], prev: FaceBox | None) -> FaceBox:
    """The face continuing ``prev`` if any, else the largest, most central one."""
    if prev is not None:
        best = max(faces, key=lambda f: _iou(f, prev))
        if _iou(best, prev) > 0.3:
            return best
    h, w = shape
    half_diag = 0.5 * math.hypot(w, h)

    def score(f: FaceBox) -> float:
        d = math.hypot(f.center[0] - w / 2, f.center[1] - h / 2) / half_diag
        return f.width * f.height * (1.0 - 0.5 * d)

    return max(faces, key=score)


def _box_from_points(points: np.ndarray, rel: tuple[float, float, float, float]) -> FaceBox:
    """Face box placed on the landmarks with the box-to-landmark geometry ``rel``."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    lw, lh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    cx, cy = 0.5 * (x0 + x1) + rel[0] * lw, 0.5 * (y0 + y1) + rel[1] * lh
    bw, bh = rel[2] * lw, rel[3] * lh
    return FaceBox(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)


def _rel(box: FaceBox, points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    lw, lh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    return (
        (box.center[0] - 0.5 * (x0 + x1)) / lw,
        (box.center[1] - 0.5 * (y0 + y1)) / lh,
        box.width / lw,
        box.height / lh,
    )


# --------------------------------------------------------------------------- picture


def _frames(
    path: Path, start: float, end: float | None
) -> tuple[float, int, Iterator[tuple[int, np.ndarray]]]:
    """Frame rate, expected frame count and (frame index, gray frame (H, W) uint8) pairs,
    decoded by :func:`adr.ingest.video.iter_frames` (exact rates)."""
    from adr.ingest.video import frame_range, iter_frames, picture_timing

    if not path.is_file():
        raise AdrError(path, "file not found")
    rate, count = picture_timing(path)
    first, last = frame_range(rate, start, end)
    stop = last if count is None else count if last is None else min(count, last)
    total = max(0, (stop or 0) - first)
    return float(rate), total, iter_frames(path, start, end, gray=True)


# --------------------------------------------------------------------------- tracking


def _patch(gray: np.ndarray, box: FaceBox) -> np.ndarray | None:
    """The box's pixels as a zero-mean unit-norm 24×24 patch, None if mostly outside."""
    import cv2

    h, w = gray.shape
    x0, y0 = max(0, int(box.left)), max(0, int(box.top))
    x1, y1 = min(w, int(box.right)), min(h, int(box.bottom))
    if (x1 - x0) * (y1 - y0) < 0.5 * box.width * box.height or x1 - x0 < 8 or y1 - y0 < 8:
        return None
    step = max(1, min(x1 - x0, y1 - y0) // 48)
    crop = gray[y0:y1:step, x0:x1:step]
    p = cv2.resize(crop, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float64)
    p -= p.mean()
    norm = np.linalg.norm(p)
    return p / norm if norm > 1e-6 else None


def track_lips(
    video_path: str | Path,
    *,
    start: float = 0.0,
    end: float | None = None,
    detect_every: int = 10,
    min_face: float = 0.2,
    progress: ProgressHook | None = None,
) -> LipResult:
    """Track the mouth of the main face in a picture file.

    Parameters
    ----------
    video_path : str or Path
        Any picture file FFmpeg reads.
    start, end : float
        Seconds from the picture's first frame; ``end=None`` reads to the end.
    detect_every : int
        Run the face detector every this many frames (and whenever the track is lost);
        landmarks are fitted on every frame.
    min_face : float
        Smallest face to detect, as a fraction of the frame height.
    progress : callable, optional
        Receives :class:`adr.core.progress.ProgressEvent` (stage ``"lips"``, unit frames).

    Returns
    -------
    LipResult
        ``track`` has one entry per frame (F,) from ``track.start``; ``face`` is True where
        the chosen face's mouth was measured (the face continuing the track, else the largest,
        most central one; ``report`` counts frames with several faces). Frames without a
        usable face have ``face=False`` and NaN measurements.

    Raises
    ------
    AdrError
        If the file is missing or unreadable, or has no picture between ``start`` and ``end``.
    """
    path = Path(video_path)
    fps, total, frames = _frames(path, start, end)
    period = 1.0 / fps
    retry = max(1, detect_every // 5)
    rows: list[tuple[float, float, bool, int]] = []
    boxes: list[tuple[float, float, float, float]] = []
    events: list[int] = []
    box: FaceBox | None = None
    template: np.ndarray | None = None
    rel = (0.0, 0.0, 1.0, 1.0)
    first: int | None = None
    since, n_faces, max_faces, detections, losses = 10**9, 0, 0, 0, 0
    nan_box = (np.nan,) * 4
    for idx, gray in frames:
        first = idx if first is None else first
        if idx < first + len(rows):  # a repeated timestamp
            continue
        while first + len(rows) < idx:  # frames the decoder skipped
            rows.append((np.nan, np.nan, False, 0))
            boxes.append(nan_box)
            events.append(0)
        event = 0
        size = (gray.shape[1], gray.shape[0])
        shape, pts, lost = MouthShape.missing(), None, False
        if box is not None:
            pts = _landmarks(gray, box)
            shape = mouth_shape(pts, size)
            patch = _patch(gray, _box_from_points(pts, rel)) if shape.valid else None
            if patch is None or template is None or float(np.sum(patch * template)) < 0.5:
                shape, lost, losses = MouthShape.missing(), True, losses + 1
                event |= EVENT_LOST
        if since >= detect_every or (box is None and since >= retry) or lost:
            detections, since = detections + 1, 0
            event |= EVENT_DETECTED
            faces = [f for f, _ in _detect(gray, min_face)]
            n_faces, max_faces = len(faces), max(max_faces, len(faces))
            chosen = _choose(faces, gray.shape, box) if faces else None
            if chosen is not None and box is not None and shape.valid and _iou(chosen, box) < 0.3:
                chosen = None  # the detector missed the tracked face: keep following it
            if chosen is not None:
                cpts = _landmarks(gray, chosen)
                cshape = mouth_shape(cpts, size)
                if cshape.valid:
                    shape, pts, rel = cshape, cpts, _rel(chosen, cpts)
                    template = _patch(gray, chosen)
        since += 1
        if shape.valid and pts is not None:
            box = _box_from_points(pts, rel)
            rows.append((shape.opening, shape.width, True, n_faces))
            boxes.append((box.left, box.top, box.right, box.bottom))
        else:
            box = None
            rows.append((np.nan, np.nan, False, 0))
            boxes.append(nan_box)
        events.append(event)
        if progress is not None and len(rows) % 25 == 0 and len(rows) < total:
            progress(ProgressEvent("lips", len(rows), total, "frame"))
    if not rows:
        until = "the end" if end is None else f"{end:g} s"
        raise AdrError(path, f"no picture between {start:g} s and {until}")
    if progress is not None:
        progress(ProgressEvent("lips", len(rows), len(rows), "frame"))
    t0 = frames_to_seconds(first if first is not None else 0, period)
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    face = arr[:, 2] > 0
    track = LipTrack(
        start=t0,
        fps=fps,
        opening=arr[:, 0].astype(np.float32),
        width=arr[:, 1].astype(np.float32),
        face=face,
    )
    report = LipReport(
        num_frames=len(rows),
        face_frames=int(face.sum()),
        multi_face_frames=int(np.sum(face & (arr[:, 3] > 1))),
        max_faces=max_faces,
        detections=detections,
        track_losses=losses,
        lost_spans=_spans(~face, t0, period),
    )
    counts = np.where(face, arr[:, 3], 0).astype(np.int16)
    return LipResult(
        track,
        report,
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        counts,
        np.array(events, dtype=np.uint8),
    )


def visual_speech_activity(
    track: LipTrack, *, threshold: float = 0.02, window: float = 0.3
) -> np.ndarray:
    """Frames where the mouth moves: opening std over ``window`` seconds above ``threshold``.

    Returns
    -------
    np.ndarray, shape (F,), bool
        False where no face was measured.
    """
    x = np.asarray(track.opening, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0, dtype=bool)
    half = max(1, seconds_to_frames(window / 2, 1.0 / track.fps))
    padded = np.concatenate([np.full(half, np.nan), x, np.full(half, np.nan)])
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    ok = np.isfinite(win)
    count = ok.sum(axis=1)
    w = np.where(ok, win, 0.0)
    mean = w.sum(axis=1) / np.maximum(count, 1)
    var = (w**2).sum(axis=1) / np.maximum(count, 1) - mean**2
    std = np.sqrt(np.maximum(var, 0.0))
    return (count > half) & (std > threshold) & np.isfinite(x)
