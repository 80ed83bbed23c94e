"""Benchmark conditions: real speech, put in a real room and real noise at set SNRs.

Clean lines come from the development corpus (``../shared/corpus``; see its README):
VCTK p225/p226 and LJSpeech (with transcripts), LibriSpeech test-other speakers (no
transcripts: measured for voice, quality and pitch, not for WER), and the real noisy/clean
pairs of VoiceBank-DEMAND (condition ``"real"``). Every synthetic degradation is seeded from
the line and condition names, so a rerun builds exactly the same mixtures.

A degraded line is ``reverb(clean) + noise`` where ``reverb`` convolves with a measured room
response whose direct-path peak is moved to sample 0 (the result stays sample-aligned with the
dry line) and the noise (a random stretch of a corpus noise recording) is scaled to the SNR
over the whole line. Everything is resampled to :data:`BENCH_RATE` on loading.

The corpus is absent on users' machines: :func:`corpus_root` returns ``None`` then, and the
benchmark runs only what the caller passes in (tests build lines with :func:`degrade`).
"""

from __future__ import annotations

import csv
import functools
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adr.analysis.denoise import resample
from adr.core.errors import AdrError

__all__ = [
    "BENCH_RATE",
    "Condition",
    "CONDITIONS",
    "REAL",
    "DEMO",
    "Utterance",
    "BenchLine",
    "BenchSet",
    "corpus_root",
    "load_corpus",
    "demo_utterances",
    "degrade",
    "build_set",
]

#: Sample rate of every benchmark signal, in Hz (all measures run at 16 kHz).
BENCH_RATE = 16_000
_RIR_SECONDS = 0.8


@dataclass(frozen=True)
class Condition:
    """A degradation: ``snr_db`` of noise over reverberant speech (``None``: no noise)."""

    name: str
    snr_db: float | None
    reverb: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "snr_db": self.snr_db, "reverb": self.reverb}


#: Synthetic conditions, cleanest first.
CONDITIONS = (
    Condition("clean", None, False),
    Condition("10 dB", 10.0, True),
    Condition("0 dB", 0.0, True),
    Condition("-5 dB", -5.0, True),
)
#: The real VoiceBank-DEMAND recordings (SNR -0.7 to 14.6 dB, no added room).
REAL = Condition("real (VoiceBank-DEMAND)", None, False)
#: The demo production's lines, as mixed into its production track (``demo_utterances``).
DEMO = Condition("demo production", None, False)


@dataclass(frozen=True, eq=False)
class Utterance:
    """A clean recorded line, mono float32 at :data:`BENCH_RATE`.

    ``noisy`` is set only for recordings that come with a real noisy version (``snr_db`` and
    ``noise`` then describe it where known: the demo production's lines); ``path`` is the
    recording's file (at its own rate; ``""`` for generated lines), which enrollment reads.
    """

    id: str
    speaker: str
    text: str
    audio: np.ndarray = field(repr=False)
    source: str = ""
    noisy: np.ndarray | None = field(default=None, repr=False)
    path: str = ""
    snr_db: float | None = None
    noise: str = ""

    @property
    def duration(self) -> float:
        return len(self.audio) / BENCH_RATE

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "speaker": self.speaker,
            "text": self.text,
            "source": self.source,
            "duration": round(self.duration, 3),
        }


@dataclass(frozen=True, eq=False)
class BenchLine:
    """One degraded line as the systems see it.

    Attributes
    ----------
    id : str
        ``"<utterance>@<condition>"``.
    utterance, speaker, text : str
        The clean line it came from (``text`` is ``""`` when unknown).
    condition : str
        :class:`Condition` name.
    snr_db : float or None
        Added-noise SNR (``None`` for clean and real recordings; the target SNR of the
        line's noise for demo production lines, ``None`` for its clean lines).
    noisy : np.ndarray, shape (N,), float32
        What a system gets, at ``sample_rate``.
    clean : np.ndarray, shape (N,), float32
        The dry clean line, sample-aligned with ``noisy`` (the reference for PESQ, STOI, F0).
    noise, rir : str
        Corpus paths of the noise and room response used (``""`` if none).
    """

    id: str
    utterance: str
    speaker: str
    text: str
    condition: str
    snr_db: float | None
    noisy: np.ndarray = field(repr=False)
    clean: np.ndarray = field(repr=False)
    sample_rate: int = BENCH_RATE
    noise: str = ""
    rir: str = ""

    @property
    def duration(self) -> float:
        return len(self.noisy) / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "utterance": self.utterance,
            "speaker": self.speaker,
            "text": self.text,
            "condition": self.condition,
            "snr_db": self.snr_db,
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 3),
            "noise": self.noise,
            "rir": self.rir,
        }


@dataclass(frozen=True, eq=False)
class BenchSet:
    """Lines to run, and the clean lines of each speaker (for speaker similarity)."""

    lines: tuple[BenchLine, ...]
    utterances: tuple[Utterance, ...]

    def references(self, line: BenchLine, max_count: int = 6) -> list[np.ndarray]:
        """Up to ``max_count`` other clean lines of ``line``'s speaker, shape (M_i,) each."""
        return [
            u.audio for u in self.utterances if u.speaker == line.speaker and u.id != line.utterance
        ][:max_count]


# --------------------------------------------------------------------------- corpus


def corpus_root() -> Path | None:
    """``$ADR_CORPUS`` or ``../shared/corpus`` beside the project, ``None`` if absent."""
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    root = Path(os.environ.get("ADR_CORPUS", default))
    return root.resolve() if (root / "MANIFEST.tsv").is_file() else None


def _read_audio(path: Path) -> np.ndarray:
    """Mono float32 at BENCH_RATE (channels averaged, except room responses: see caller)."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise AdrError(path, f"cannot read audio ({exc})") from None
    return resample(data.mean(axis=1), sr, BENCH_RATE)


def _manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# (source name, path prefix, has transcripts)
_SOURCES = (
    ("vctk", "speech_clean/vctk16k_autovc/", True),
    ("ljspeech", "speech_clean/ljspeech_coqui/", True),
    ("librispeech", "speech_clean/librispeech_test-other/", False),
    ("voicebank", "speech_clean/voicebank_demand_p287/", True),
)


def load_corpus(
    root: Path, select: Callable[[dict[str, str]], bool] | None = None
) -> list[Utterance]:
    """Clean lines of the benchmark's speakers from the corpus at ``root``.

    Parameters
    ----------
    select : callable, optional
        Keeps a manifest row (a dict of its columns) when it returns true; all rows of the
        four sources by default. VoiceBank rows get their real noisy recording attached.
    """
    out = []
    for row in _manifest(root):
        source = next((s for s, prefix, _ in _SOURCES if row["path"].startswith(prefix)), None)
        if source is None or Path(row["path"]).suffix.lower() not in (".wav", ".flac"):
            continue
        if select is not None and not select(row):
            continue
        has_text = next(t for s, _, t in _SOURCES if s == source)
        path = row["path"]
        noisy = None
        if source == "voicebank":
            noisy_path = root / path.replace("speech_clean/", "speech_noisy/", 1).replace(
                "/clean/", "/noisy/"
            )
            noisy = _read_audio(noisy_path)
        audio = _read_audio(root / path)
        if noisy is not None:
            n = min(len(audio), len(noisy))
            audio, noisy = audio[:n], noisy[:n]
        out.append(
            Utterance(
                id=f"{source}:{Path(path).stem}",
                speaker=row["speaker"].split(" ")[0],
                text=row["transcript"] if has_text else "",
                audio=audio,
                source=source,
                noisy=noisy,
                path=str(root / path),
            )
        )
    return out


def demo_utterances(production: Any = None) -> list[Utterance]:
    """The lines of a built demo production (:func:`adr.demo.build_demo`) as noisy/clean pairs.

    Parameters
    ----------
    production : adr.demo.DemoProduction, optional
        A built production; ``None`` gives ``[]``. Each line's clean audio is its
        ``clean48k_path`` (the line as mixed, before noise), its noisy audio the same span of
        the production track; both start at the line's ``offset``. They run under the
        condition ``"demo production"``.
    """
    if production is None:
        return []
    import soundfile as sf

    root = Path(production.root)
    mix, mix_sr = sf.read(str(production.production_audio), dtype="float32", always_2d=True)
    mix = mix.mean(axis=1)
    out = []
    for ln in production.ground_truth.lines:
        clean = _read_audio(root / ln.clean48k_path)
        i0 = int(round(ln.offset * mix_sr))
        n = int(round(len(clean) * mix_sr / BENCH_RATE))
        noisy = resample(mix[i0 : i0 + n], mix_sr, BENCH_RATE)
        m = min(len(clean), len(noisy))
        out.append(
            Utterance(
                f"demo:{ln.cue_id}",
                f"demo-{ln.actor}",
                ln.text,
                clean[:m],
                source="demo",
                noisy=noisy[:m],
                snr_db=getattr(ln, "snr_db", None),
                noise=getattr(ln, "noise", ""),
            )
        )
    return out


# --------------------------------------------------------------------------- mixing


def _seed(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


def _room(path: Path) -> np.ndarray:
    """First channel of a measured room response, direct path at 0, peak 1, 0.8 s long."""
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    h = resample(data[:, 0], sr, BENCH_RATE)
    peak = int(np.argmax(np.abs(h)))
    h = h[peak : peak + int(_RIR_SECONDS * BENCH_RATE)]
    fade = min(len(h), int(0.05 * BENCH_RATE))
    h[len(h) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return (h / h[0]).astype(np.float32)


def degrade(
    clean: np.ndarray,
    snr_db: float | None,
    noise: np.ndarray | None,
    rir: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Put a clean line in a room and in noise.

    Parameters
    ----------
    clean : np.ndarray, shape (N,)
    snr_db : float or None
        Noise power relative to the (reverberant) speech power over the whole line;
        ``None`` adds no noise.
    noise : np.ndarray, shape (M,), optional
        Noise recording; a random stretch of length N is used (looped if shorter).
    rir : np.ndarray, shape (K,), optional
        Room response with its direct path at sample 0 (output stays aligned with ``clean``).
    rng : np.random.Generator
        Chooses the noise stretch.

    Returns
    -------
    np.ndarray, shape (N,), float32
        Scaled down (never up) to peak at most 0.99.
    """
    from scipy.signal import fftconvolve

    x = np.asarray(clean, dtype=np.float64)
    n = len(x)
    if rir is not None and len(rir):
        x = fftconvolve(x, np.asarray(rir, dtype=np.float64))[:n]
    if snr_db is not None:
        if noise is None or len(noise) == 0:
            raise AdrError("degrade", "an SNR was given without noise")
        reps = int(np.ceil((n + 1) / len(noise))) + 1
        loop = np.tile(np.asarray(noise, dtype=np.float64), reps)
        start = int(rng.integers(0, max(1, len(loop) - n)))
        d = loop[start : start + n]
        p_speech = float(np.mean(x**2))
        p_noise = float(np.mean(d**2)) + 1e-20
        x = x + d * np.sqrt(p_speech / p_noise / 10.0 ** (snr_db / 10.0))
    peak = float(np.max(np.abs(x))) if n else 0.0
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32)


def build_set(
    utterances: Sequence[Utterance],
    lines_from: Iterable[str],
    conditions: Sequence[Condition] = CONDITIONS,
    root: Path | None = None,
    seed: int = 0,
    noises: Mapping[str, np.ndarray] | None = None,
    rooms: Mapping[str, np.ndarray] | None = None,
) -> BenchSet:
    """Degrade the chosen utterances under every condition.

    Parameters
    ----------
    utterances : sequence of Utterance
        All clean lines loaded (the others serve as speaker references).
    lines_from : iterable of str
        Ids of the utterances to degrade. Those with a real noisy recording are used only
        as-is, under :data:`REAL`.
    conditions : sequence of Condition
        Synthetic conditions to apply.
    root : Path, optional
        Corpus root: its ``noise/*/*.wav`` and ``rir/*/*.wav`` are used.
    seed : int
        Global seed, mixed with each line and condition name.
    noises, rooms : mapping of name to np.ndarray, optional
        Noise recordings (shape (M,)) and room responses (direct path at 0, shape (K,)) at
        :data:`BENCH_RATE`, used instead of the corpus's (tests pass generated ones).
    """
    by_id = {u.id: u for u in utterances}
    noise_bank: dict[str, Callable[[], np.ndarray]] = {}
    room_bank: dict[str, Callable[[], np.ndarray]] = {}
    if root is not None:
        for p in sorted((root / "noise").glob("*/*.wav")):
            noise_bank[str(p.relative_to(root))] = functools.partial(_read_audio, p)
        for p in sorted((root / "rir").glob("*/*.wav")):
            room_bank[str(p.relative_to(root))] = functools.partial(_room, p)
    for name, arr in (noises or {}).items():
        noise_bank[name] = functools.partial(np.asarray, arr, np.float32)
    for name, arr in (rooms or {}).items():
        room_bank[name] = functools.partial(np.asarray, arr, np.float32)
    noise_names, room_names = sorted(noise_bank), sorted(room_bank)
    cache: dict[str, np.ndarray] = {}

    def get(bank: dict[str, Callable[[], np.ndarray]], name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = bank[name]()
        return cache[name]

    lines = []
    for uid in lines_from:
        u = by_id[uid]
        if u.noisy is not None:
            cond_name = DEMO.name if u.source == "demo" else REAL.name
            lines.append(
                BenchLine(
                    f"{u.id}@{cond_name.split()[0]}",
                    u.id,
                    u.speaker,
                    u.text,
                    cond_name,
                    u.snr_db,
                    noisy=u.noisy,
                    clean=u.audio,
                    noise=u.noise,
                )
            )
            continue
        for cond in conditions:
            rng = np.random.default_rng([seed, _seed(u.id, cond.name)])
            noise_name = room_name = ""
            if cond.snr_db is not None or cond.reverb:
                if not noise_names or not room_names:
                    raise AdrError("build_set", "no noise or room responses (corpus absent?)")
                noise_name = noise_names[int(rng.integers(len(noise_names)))]
                room_name = room_names[int(rng.integers(len(room_names)))]
            noise = get(noise_bank, noise_name) if cond.snr_db is not None else None
            rir = get(room_bank, room_name) if cond.reverb else None
            noisy = degrade(u.audio, cond.snr_db, noise, rir, rng)
            lines.append(
                BenchLine(
                    f"{u.id}@{cond.name}",
                    u.id,
                    u.speaker,
                    u.text,
                    cond.name,
                    cond.snr_db,
                    noisy=noisy,
                    clean=u.audio,
                    noise=noise_name if noise is not None else "",
                    rir=room_name if rir is not None else "",
                )
            )
    return BenchSet(tuple(lines), tuple(utterances))
