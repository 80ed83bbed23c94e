"""Analysis over a session's scene: one lip track over the cues' picture (cached per
stretch in ``analysis/scene/lips.json``) and one audio/video offset from all lines together
(``analysis/scene/av.json``); each line gets its slice of the track and the scene's offset.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from adr.analysis.avsync import AvOffset
from adr.analysis.line import AudioSource, _denoise_lines, _window
from adr.analysis.lip_records import LipResult
from adr.analysis.result import (
    ANALYSIS_FORMAT_VERSION,
    ANALYSIS_RATE,
    KEY_DIGITS,
    PIPELINE_VERSION,
    AnalysisOptions,
    LineAnalysis,
)
from adr.core.cache import cache_key
from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json
from adr.core.progress import ProgressHook
from adr.core.timebase import seconds_to_samples
from adr.core.types import Cue
from adr.ingest.session import Session

__all__ = ["scene_av_offset"]

#: Seconds of picture tracked around each cue's audio window.
LIPS_MARGIN = 0.1
#: Cue windows closer than this are tracked as one stretch of picture.
_LIPS_BRIDGE = 1.0
#: Face detector period (frames) of the scene's lip tracking; landmarks follow every frame.
_LIPS_DETECT_EVERY = 25
#: Below this A/V confidence a line gets a warning.
_AV_CONFIDENT = 0.3


def _lip_windows(cues: Sequence[Cue], duration: float, context: float) -> list[tuple[float, float]]:
    """Stretches of picture to track: each cue's audio window +- margin, merged when close."""
    out: list[list[float]] = []
    for c in sorted(cues, key=lambda c: c.start):
        pad = context + LIPS_MARGIN
        a, b = max(0.0, c.start - pad), min(duration, c.end + pad)
        if out and a - out[-1][1] < _LIPS_BRIDGE:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out if b > a]


def _stitch(blocks: Sequence[LipResult]) -> LipResult:
    """One lip result over the frames of ``blocks`` (same fps), frames between them empty."""
    from adr.analysis.lip_records import LipReport
    from adr.core.types import LipTrack

    blocks = sorted(blocks, key=lambda b: b.track.start)
    fps = float(blocks[0].track.fps)
    first = int(round(blocks[0].track.start * fps))
    last = max(int(round(b.track.start * fps)) + b.track.num_frames for b in blocks)
    n = last - first
    opening = np.full(n, np.nan, np.float32)
    width = np.full(n, np.nan, np.float32)
    face = np.zeros(n, bool)
    boxes = np.full((n, 4), np.nan, np.float32)
    faces = np.zeros(n, np.int16)
    events = np.zeros(n, np.uint8)
    for b in blocks:
        i = int(round(b.track.start * fps)) - first
        k = b.track.num_frames
        opening[i : i + k] = b.track.opening
        width[i : i + k] = b.track.width
        face[i : i + k] = b.track.face
        if len(b.boxes) == k:
            boxes[i : i + k] = b.boxes
        if len(b.faces) == k:
            faces[i : i + k] = b.faces
        if len(b.events) == k:
            events[i : i + k] = b.events
    track = LipTrack(start=first / fps, fps=fps, opening=opening, width=width, face=face)
    report = LipReport(
        n,
        int(face.sum()),
        sum(b.report.multi_face_frames for b in blocks),
        max(b.report.max_faces for b in blocks),
        sum(b.report.detections for b in blocks),
        sum(b.report.track_losses for b in blocks),
    )
    return LipResult(track, report, boxes, faces, events)


def _scene_lips(
    session: Session, cues: Sequence[Cue], context: float, progress: ProgressHook
) -> tuple[LipResult | None, str, list[str]]:
    """The lip track over the cues' picture (cached per stretch in ``analysis/scene``).

    Returns the stitched result (None if the picture cannot be read), the cache key of the
    stretches used, and warnings.
    """
    from adr.analysis.lips import track_lips

    path = session.analysis_dir / "scene" / "lips.json"
    key = cache_key(
        {
            "picture": session.picture.to_dict(),
            "pipeline": PIPELINE_VERSION,
            "format": ANALYSIS_FORMAT_VERSION,
            "detect_every": _LIPS_DETECT_EVERY,
        },
        length=KEY_DIGITS,
    )
    cached: list[dict[str, Any]] = []
    if path.exists():
        try:
            data = read_json(path)
            if data.get("key") == key:
                cached = list(data["blocks"])
        except (AdrError, KeyError, TypeError, ValueError):
            cached = []
    windows = _lip_windows(cues, session.picture.duration, context)
    blocks: list[LipResult] = []
    used: list[tuple[float, float]] = []
    changed = False
    for a, b in windows:
        hit = next((c for c in cached if c["start"] <= a + 1e-6 and c["end"] >= b - 1e-6), None)
        if hit is None:
            try:
                result = track_lips(
                    session.picture.path,
                    start=a,
                    end=b,
                    detect_every=_LIPS_DETECT_EVERY,
                    progress=progress,
                )
            except AdrError as exc:
                return None, key, [f"lips: {exc}"]
            hit = {"start": a, "end": b, "lips": result.to_dict()}
            cached.append(hit)
            changed = True
        blocks.append(LipResult.from_dict(hit["lips"]))
        used.append((hit["start"], hit["end"]))
    if changed:
        write_json(path, {"key": key, "blocks": cached})
    if not blocks:
        return None, key, []
    return _stitch(blocks), cache_key([key, sorted(set(used))], length=KEY_DIGITS), []


def scene_av_offset(
    lips: LipResult, lines: Sequence[tuple[float, np.ndarray]], sample_rate: int
) -> AvOffset:
    """Audio/video offset of a scene from all its lines at once.

    Parameters
    ----------
    lips : LipResult
        Mouth track over the lines' picture (frames outside the lines are ignored).
    lines : sequence of (float, np.ndarray)
        Each line's session start time and its (denoised) audio, shape (N_i,).
    sample_rate : int

    Returns
    -------
    AvOffset
        Positive: the audio is late. Correlation of the mouth opening with the speech
        envelope over every line together (:func:`adr.analysis.avsync.estimate_av_offset`
        with spans).
    """
    from adr.analysis.avsync import estimate_av_offset

    if not lines:
        return AvOffset(0.0, 0.0, 0.0, 0.0)
    end = max(t + len(x) / sample_rate for t, x in lines)
    scene = np.zeros(seconds_to_samples(end, sample_rate) + 1, dtype=np.float32)
    spans = []
    for t, x in lines:
        i = seconds_to_samples(t, sample_rate)
        scene[i : i + len(x)] = x[: len(scene) - i]
        spans.append((t, t + len(x) / sample_rate))
    return estimate_av_offset(lips.track, scene, sample_rate, audio_start=0.0, spans=spans)


def _with_lips(
    line: LineAnalysis, scene: LipResult | None, av: AvOffset | None, warnings: Sequence[str] = ()
) -> LineAnalysis:
    """``line`` with its slice of the scene's lip track and the scene's A/V offset."""
    notes = [w for w in line.warnings if not w.startswith(("lips:", "A/V offset", "no face"))]
    notes += list(warnings)
    lips = None
    if scene is not None and av is not None:
        lips = scene.slice(line.cue.start, line.cue.end)
        lips = dataclasses.replace(lips, track=av.apply(lips.track))
        if lips.report.face_frames == 0:
            notes.append("no face found in the picture during the line (no lip track)")
        elif av.confidence < _AV_CONFIDENT:
            notes.append(
                f"A/V offset uncertain (confidence {av.confidence:.2f}; the scene's "
                "mouth movement and speech do not correlate clearly)"
            )
    return dataclasses.replace(line, lips=lips, av=av, warnings=tuple(notes))


def _same_lips(a: LineAnalysis, b: LineAnalysis) -> bool:
    def plain(x: Any) -> Any:
        return None if x is None else x.to_dict()

    return (
        plain(a.lips) == plain(b.lips) and plain(a.av) == plain(b.av) and a.warnings == b.warnings
    )


def _add_lips(
    session: Session,
    done: Sequence[Cue],
    results: dict[str, LineAnalysis],
    denoised: dict[str, tuple[float, np.ndarray]],
    audio: AudioSource,
    options: AnalysisOptions,
    progress: ProgressHook,
) -> None:
    """Put the scene's lip track slices and its A/V offset into ``results`` (in place)."""
    clock = time.perf_counter()
    scene, lips_key, warnings = _scene_lips(session, done, options.context, progress)
    lips_seconds = time.perf_counter() - clock
    av = None
    av_seconds = 0.0
    if scene is not None:
        clock = time.perf_counter()
        spans = [list(_window(c, len(audio) / ANALYSIS_RATE, options.context)) for c in done]
        av_key = cache_key(
            [lips_key, session.audio[0].to_dict(), spans, options.denoise, PIPELINE_VERSION],
            length=KEY_DIGITS,
        )
        path = session.analysis_dir / "scene" / "av.json"
        try:
            data = read_json(path) if path.exists() else {}
            if data.get("key") == av_key:
                av = AvOffset.from_dict(data["av"])
        except (AdrError, KeyError, TypeError, ValueError):
            av = None
        if av is None:
            missing = [c for c in done if c.id not in denoised]  # reused lines
            windows = [_window(c, len(audio) / ANALYSIS_RATE, options.context) for c in missing]
            for c, w, den in zip(
                missing, windows, _denoise_lines(audio, ANALYSIS_RATE, windows, options.denoise)
            ):
                denoised[c.id] = (w[0], den)
            lines = [denoised[c.id] for c in done]
            av = scene_av_offset(scene, lines, ANALYSIS_RATE)
            write_json(path, {"key": av_key, "av": av.to_dict(), "cues": [c.id for c in done]})
        av_seconds = time.perf_counter() - clock
    total = sum(c.end - c.start for c in done) or 1.0
    for c in done:
        line = _with_lips(results[c.id], scene, av, warnings)
        if results[c.id].timings and "lips" not in results[c.id].timings:
            share = (c.end - c.start) / total
            timings = dict(line.timings, lips=lips_seconds * share, av=av_seconds * share)
            line = dataclasses.replace(line, timings=timings)
        results[c.id] = line
