"""Records describing the demo production and its ground truth (``ground_truth.json``).

All times are seconds on the scene timeline: 0 is the first picture frame, which carries the
start timecode (01:00:00:00 by default). Paths in :class:`LineTruth` and :class:`ActorInfo`
are relative to the production folder; :class:`DemoProduction` holds absolute paths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.records import Record
from adr.core.types import Cue, Phone, Word, strict_from_dict

__all__ = ["LineTruth", "GroundTruth", "ActorInfo", "DemoProduction"]


@dataclass(frozen=True)
class LineTruth:
    """What is known about one line of the scene.

    Attributes
    ----------
    cue_id, actor, character, text : str
        The cue and who says what.
    start, end : float
        First word start and last word end on the scene timeline.
    snr_db : float or None
        Target SNR of the line (None: clean, only the room tone).
    measured_snr_db : float
        Speech power over noise power within ``[start, end]`` in the production mix.
    noise : str
        Noise kind (:data:`adr.demo.scene.NOISE_KINDS`).
    rt60 : float
        Reverberation time of the line's room, seconds.
    words : tuple of Word
        Word timing from the synthesizer, scene time.
    phones : tuple of Phone
        IPA phones with their word index (-1 for silence), scene time.
    phone_labels : tuple of str
        The synthesizer's own label of each phone (festival radio phones, piper IPA).
    dry_path : str
        Clean dry line at the voice's native rate (``scene/lines/<cue>.wav``).
    dry_sample_rate : int
        Rate of ``dry_path``.
    clean48k_path : str
        The same line at 48 kHz with the gain it has in the mix (``scene/clean48k/<cue>.wav``).
    offset : float
        Scene time of the first sample of both ``dry_path`` and ``clean48k_path``.
    """

    cue_id: str
    actor: str
    character: str
    text: str
    start: float
    end: float
    snr_db: float | None
    measured_snr_db: float
    noise: str
    rt60: float
    words: tuple[Word, ...]
    phones: tuple[Phone, ...]
    phone_labels: tuple[str, ...]
    dry_path: str
    dry_sample_rate: int
    clean48k_path: str
    offset: float

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["words"] = [w.to_dict() for w in self.words]
        d["phones"] = [p.to_dict() for p in self.phones]
        d["phone_labels"] = list(self.phone_labels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineTruth:
        d = dict(data)
        d["words"] = tuple(Word.from_dict(w) for w in d.get("words", ()))
        d["phones"] = tuple(Phone.from_dict(p) for p in d.get("phones", ()))
        d["phone_labels"] = tuple(d.get("phone_labels", ()))
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class GroundTruth:
    """The scene's ground truth.

    Attributes
    ----------
    fps : int
        Picture frame rate.
    start_timecode : str
        Timecode of the first frame.
    sample_rate : int
        Rate of the production audio (48000).
    num_frames : int
        Picture frames; the scene lasts ``num_frames / fps`` seconds.
    lines : tuple of LineTruth
        In scene order.
    shot : tuple of str
        Actor on screen in each picture frame, length ``num_frames``.
    mouth_openness : tuple of float
        Viseme openness (0..1) the picture's mouth was drawn with, per frame.
    """

    fps: int
    start_timecode: str
    sample_rate: int
    num_frames: int
    lines: tuple[LineTruth, ...]
    shot: tuple[str, ...]
    mouth_openness: tuple[float, ...]

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "start_timecode": self.start_timecode,
            "sample_rate": self.sample_rate,
            "num_frames": self.num_frames,
            "lines": [line.to_dict() for line in self.lines],
            "shot": list(self.shot),
            "mouth_openness": [round(float(v), 4) for v in self.mouth_openness],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        d = dict(data)
        d["lines"] = tuple(LineTruth.from_dict(x) for x in d.get("lines", ()))
        d["shot"] = tuple(d.get("shot", ()))
        d["mouth_openness"] = tuple(float(v) for v in d.get("mouth_openness", ()))
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class ActorInfo(Record):
    """One enrolled actor of the demo.

    Attributes
    ----------
    actor, character : str
        Actor id and the character they play.
    voice : str
        Synthesizer and voice (``"festival:voice_kal_diphone"``).
    sample_rate : int
        Native rate of the enrollment WAVs.
    enrollment_dir : str
        Folder of the WAVs and ``transcript.tsv``, relative to the production folder.
    num_utterances : int
        Number of enrollment WAVs.
    enrollment_seconds : float
        Their total duration.
    """

    actor: str
    character: str
    voice: str
    sample_rate: int
    enrollment_dir: str
    num_utterances: int
    enrollment_seconds: float


@dataclass(frozen=True)
class DemoProduction:
    """Everything :func:`adr.demo.build_demo` made.

    Attributes
    ----------
    root : Path
        The production folder.
    actors : tuple of ActorInfo
        The three actors.
    cues : tuple of Cue
        One cue per line (in and out at the first and last word).
    fps : int
        Picture frame rate.
    start_timecode : str
        Timecode of the first frame and first audio sample.
    production_audio : Path
        ``scene/production.wav`` (48 kHz, 24-bit Broadcast WAV).
    dialogue_audio : Path
        ``scene/dialogue.wav``: the production track's reverberant dialogue alone (48 kHz,
        24-bit), so that ``production - dialogue`` is the noise.
    picture : Path
        ``scene/picture.mp4`` (H.264 + AAC, start timecode set).
    ground_truth_path : Path
        ``ground_truth.json``.
    ground_truth : GroundTruth
        Its content.
    """

    root: Path
    actors: tuple[ActorInfo, ...]
    cues: tuple[Cue, ...]
    fps: int
    start_timecode: str
    production_audio: Path
    dialogue_audio: Path
    picture: Path
    ground_truth_path: Path
    ground_truth: GroundTruth

    def enrollment_dir(self, actor: str) -> Path:
        """Folder of ``actor``'s enrollment WAVs and ``transcript.tsv``."""
        for info in self.actors:
            if info.actor == actor:
                return self.root / info.enrollment_dir
        raise KeyError(actor)

    def summary(self) -> str:
        """A few lines for people."""
        rows = [f"demo production in {self.root}"]
        for a in self.actors:
            rows.append(
                f"  {a.actor:5s} {a.voice:40s} {a.num_utterances:3d} utterances, "
                f"{a.enrollment_seconds:6.1f} s"
            )
        rows.append(
            f"  scene: {len(self.cues)} lines, {self.ground_truth.duration:.1f} s at "
            f"{self.fps} fps from {self.start_timecode}"
        )
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "actors": [a.to_dict() for a in self.actors],
            "cues": [c.to_dict() for c in self.cues],
            "fps": self.fps,
            "start_timecode": self.start_timecode,
            "production_audio": str(self.production_audio),
            "dialogue_audio": str(self.dialogue_audio),
            "picture": str(self.picture),
            "ground_truth_path": str(self.ground_truth_path),
            "ground_truth": self.ground_truth.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoProduction:
        d = dict(data)
        for key in ("root", "production_audio", "dialogue_audio", "picture", "ground_truth_path"):
            if key in d:
                d[key] = Path(d[key])
        d["actors"] = tuple(ActorInfo.from_dict(a) for a in d.get("actors", ()))
        d["cues"] = tuple(Cue.from_dict(c) for c in d.get("cues", ()))
        if "ground_truth" in d:
            d["ground_truth"] = GroundTruth.from_dict(d["ground_truth"])
        return strict_from_dict(cls, d)
