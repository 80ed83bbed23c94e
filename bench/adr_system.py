"""adr's own render as a benchmark system: a voice per speaker, every line re-spoken.

Voices (:func:`plan_voices`, :func:`enroll_voices`): each speaker of the run gets a voice
enrolled with :func:`adr.voice.enroll.enroll_actor` on that speaker's clean corpus utterances
that are *not* bench lines of the run (in corpus order, up to :data:`MAX_ENROLL_SECONDS`;
transcripts given where the corpus has them, Whisper's otherwise). Where fewer than
:data:`MIN_ENROLL_SECONDS` remain and the speaker has several bench lines (VCTK and
VoiceBank in ``--full``: every utterance is a bench line), the speaker's lines are split
into folds and each fold is rendered by a voice
enrolled on the speaker's other utterances: no line is ever rendered by a voice that heard
it. The demo production's actors enroll on the demo's own enrollment sets.

Voices are cached in ``bench/work/voices/<speaker>/<preset>[-<tag>][-fold<i>of<k>]`` (the
tag keeps apart voices of runs that enroll a speaker on different material: ``run.py
--full`` tags its corpus voices ``full``, so that the quick and the full mode each keep theirs);
``enroll_actor`` returns a finished voice at once when its inputs (files, texts, configs,
preset) are unchanged, so only the first run trains. The wall time of each enrollment is
kept beside it (``<name>.timing.json``) for the report.

:class:`AdrRender` (``mode`` ``"script"`` or ``"blind"``) re-speaks a line with
:func:`adr.voice.respeak.respeak` (``adr analyze`` without picture + ``adr render``) in its
speaker's voice. A line that cannot be re-spoken (no speech found, nothing recognized ...)
keeps the production audio, as a post house would, and is counted in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.fsio import read_json, write_json
from adr.voice.material import MaterialLimits
from bench.conditions import BenchLine, BenchSet

#: Sessions the benchmark's voices may render (bench_delivery, bench_scaling, the demo).
BENCH_PRODUCTIONS = ("bench*", "delivery", "reel*", "demo")


def bench_consent(actor: str, speaker: str = "") -> Any:
    """The consent record a benchmark voice is enrolled with (issue #12): research corpus
    speakers (their licences allow research use) and the demo's synthesizers; only the
    benchmark's own sessions, never delivered."""
    from adr.core.consent import ConsentRecord

    return ConsentRecord(
        actor=actor,
        name=f"benchmark voice {speaker or actor}",
        granted_by="research corpus licence / synthetic demo voice",
        granted_on="2026-01-01",
        productions=BENCH_PRODUCTIONS,
        uses=("replace", "edit"),
        expires="2099-12-31",
        note="benchmark only; not for delivery",
    )


__all__ = [
    "ADR_KEYS",
    "VOICES_DIR",
    "MAX_ENROLL_SECONDS",
    "MIN_ENROLL_SECONDS",
    "BENCH_LIMITS",
    "VoicePlan",
    "VoiceInfo",
    "VoiceBank",
    "AdrRender",
    "plan_voices",
    "demo_enrollment_sets",
    "enroll_voices",
]

#: Short keys of adr's render in script and blind mode (``run.py --probe``).
ADR_KEYS = ("adr-script", "adr-blind")
VOICES_DIR = Path(__file__).resolve().parent / "work" / "voices"
#: Enrollment material per voice, in seconds of audio ("about 3 minutes").
MAX_ENROLL_SECONDS = 180.0
#: Below this much non-bench material a speaker is enrolled in folds.
MIN_ENROLL_SECONDS = 25.0
#: At most this many folds (VoiceBank p287 has only 6 utterances, 29 s).
MAX_FOLDS = 3
#: ``adr enroll``'s limits, but 12 s of speech suffice: VCTK folds have about 25 s of speech
#: and VoiceBank p287 folds about 15 s (adr enroll itself refuses below 30 s).
BENCH_LIMITS = MaterialLimits(min_minutes=0.2)


@dataclass(frozen=True)
class VoicePlan:
    """One voice to enroll and the bench lines it renders.

    Attributes
    ----------
    speaker : str
        Bench speaker id (``line.speaker``).
    name : str
        Actor id of the voice: ``<preset>[-<tag>]``, with ``-fold<i>of<k>`` for a fold.
    files : tuple of str
        Clean recordings it is enrolled on.
    texts : tuple of (str or None)
        Their transcripts (``None``: Whisper transcribes).
    utterances : tuple of str
        Ids of the utterances whose bench lines this voice renders.
    seconds : float
        Length of the enrollment recordings.
    """

    speaker: str
    name: str
    files: tuple[str, ...]
    texts: tuple[str | None, ...]
    utterances: tuple[str, ...]
    seconds: float

    def folder(self, root: Path = VOICES_DIR) -> Path:
        return Path(root) / self.speaker / self.name


def _take(pool: Sequence[Any], limit: float) -> list[Any]:
    """Utterances in order until their length reaches ``limit`` seconds."""
    out, total = [], 0.0
    for u in pool:
        if total >= limit:
            break
        out.append(u)
        total += u.duration
    return out


def plan_voices(
    bench: BenchSet,
    preset: str,
    enrollment_sets: Mapping[str, tuple[Sequence[Path], Sequence[str | None]]] | None = None,
    *,
    max_seconds: float = MAX_ENROLL_SECONDS,
    min_seconds: float = MIN_ENROLL_SECONDS,
    max_folds: int = MAX_FOLDS,
    tag: str = "",
) -> list[VoicePlan]:
    """The voices a run needs (module docstring: the rule).

    Parameters
    ----------
    bench : BenchSet
        The run's lines and all loaded utterances (those with a ``path`` can be enrolled on).
    preset : str
        Training preset (part of each voice's name).
    enrollment_sets : mapping, optional
        Speaker -> (files, texts) for speakers with their own enrollment material (the demo
        production's actors); used as given.
    tag : str, optional
        Added to the names of the voices enrolled on corpus utterances
        (``<preset>-<tag>[-fold<i>of<k>]``); the given enrollment sets' voices keep
        ``<preset>`` (their material does not depend on the run's lines).

    Returns
    -------
    list of VoicePlan
        In the order speakers first appear in ``bench.lines``; speakers without material
        get no plan (their lines keep the production audio).
    """
    sets = dict(enrollment_sets or {})
    speakers: dict[str, list[str]] = {}
    for ln in bench.lines:
        ids = speakers.setdefault(ln.speaker, [])
        if ln.utterance not in ids:
            ids.append(ln.utterance)
    plans = []
    base = f"{preset}-{tag}" if tag else preset
    for spk, used in speakers.items():
        if spk in sets:
            files, texts = sets[spk]
            import soundfile as sf

            secs = sum(sf.info(str(f)).duration for f in files)
            plans.append(
                VoicePlan(
                    spk,
                    preset,
                    tuple(str(f) for f in files),
                    tuple(texts),
                    tuple(used),
                    round(secs, 2),
                )
            )
            continue
        pool = [u for u in bench.utterances if u.speaker == spk and u.path]
        rest = [u for u in pool if u.id not in used]
        if rest and (sum(u.duration for u in rest) >= min_seconds or len(used) == 1):
            folds = [(base, used, _take(rest, max_seconds))]
        else:
            k = max_folds
            for n in range(2, max_folds + 1):
                if all(
                    sum(u.duration for u in pool if u.id not in used[i::n]) >= min_seconds
                    for i in range(n)
                ):
                    k = n
                    break
            k = min(k, len(used))
            if k < 2:
                continue  # a single line and nothing else: no voice
            folds = [
                (
                    f"{base}-fold{i + 1}of{k}",
                    used[i::k],
                    _take([u for u in pool if u.id not in used[i::k]], max_seconds),
                )
                for i in range(k)
            ]
        for name, renders, material in folds:
            if material:
                plans.append(
                    VoicePlan(
                        spk,
                        name,
                        tuple(u.path for u in material),
                        tuple(u.text or None for u in material),
                        tuple(renders),
                        round(sum(u.duration for u in material), 2),
                    )
                )
    return plans


def demo_enrollment_sets(production: Any) -> dict[str, tuple[list[Path], list[str | None]]]:
    """Speaker (``demo-<actor>``, as :func:`bench.conditions.demo_utterances` names them) ->
    the demo actor's enrollment WAVs and their transcripts."""
    from adr.voice.material import resolve_texts

    out = {}
    for info in production.actors:
        folder = production.enrollment_dir(info.actor)
        files = sorted(folder.glob("*.wav"))
        out[f"demo-{info.actor}"] = (files, resolve_texts(files, folder / "transcript.tsv"))
    return out


@dataclass(frozen=True)
class VoiceInfo:
    """An enrolled (or failed) voice of the run, for the report."""

    plan: VoicePlan
    folder: str
    preset: str
    minutes: float = 0.0  # speech minutes trained on (adr's record)
    steps: int = 0
    train_seconds: float = 0.0
    wall_seconds: float | None = None  # whole enrollment, when it was measured here
    reused: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        p = self.plan
        return {
            "speaker": p.speaker,
            "name": p.name,
            "folder": self.folder,
            "preset": self.preset,
            "files": len(p.files),
            "material_seconds": p.seconds,
            "transcribed": sum(t is None for t in p.texts),
            "renders": list(p.utterances),
            "minutes": self.minutes,
            "steps": self.steps,
            "train_seconds": round(self.train_seconds, 1),
            "wall_seconds": None if self.wall_seconds is None else round(self.wall_seconds, 1),
            "reused": self.reused,
            "metrics": self.metrics,
            "warnings": list(self.warnings),
            "error": self.error,
        }


class VoiceBank:
    """Which voice renders each bench line; voices are loaded once, on first use.

    Parameters
    ----------
    folders : mapping of str to Path
        Utterance id -> voice folder.
    default : Path, optional
        Voice for lines of any other utterance (the speed probe uses one voice).
    """

    def __init__(
        self,
        folders: Mapping[str, Path],
        default: Path | None = None,
        infos: Sequence[VoiceInfo] = (),
    ) -> None:
        self.folders = dict(folders)
        self.default = default
        self.infos = list(infos)
        self._loaded: dict[Path, Any] = {}

    def folder(self, line: BenchLine) -> Path | None:
        return self.folders.get(line.utterance, self.default)

    def voice(self, line: BenchLine) -> Any:
        """The :class:`adr.voice.voicefile.LoadedVoice` for ``line`` (``None``: no voice)."""
        from adr.voice.voicefile import load_voice

        folder = self.folder(line)
        if folder is None:
            return None
        if folder not in self._loaded:
            self._loaded[folder] = load_voice(folder)
        return self._loaded[folder]


def _timing_path(plan: VoicePlan, root: Path) -> Path:
    return Path(root) / plan.speaker / f"{plan.name}.timing.json"


def enroll_voices(
    plans: Sequence[VoicePlan],
    preset: str,
    *,
    root: Path = VOICES_DIR,
    log: Callable[[str], None] | None = None,
    voice_config: Any = None,
    train_config: Any = None,
    limits: MaterialLimits = BENCH_LIMITS,
    engine: str = "restorer",
    restorer_config: Any = None,
    restorer_train_config: Any = None,
) -> VoiceBank:
    """Enroll (or reuse) every planned voice; a voice that cannot be enrolled is reported,
    and its lines keep the production audio.

    Parameters
    ----------
    plans : sequence of VoicePlan
    preset : str
        ``adr.voice.train.preset`` name.
    root : Path
        Voice cache (``bench/work/voices``).
    voice_config, train_config : optional
        Passed to :func:`adr.voice.enroll.enroll_actor` (tests: tiny model, 2 steps).
    engine : str
        The voice engine (``"restorer"`` or ``"ddsp"``). The enrollment key includes it, so
        switching engines retrains; give each engine its own ``root`` to keep both cached.
    restorer_config, restorer_train_config : optional
        Passed to :func:`adr.voice.enroll.enroll_actor` (an ablation's restorer; give it its
        own ``root``).
    """
    from adr.core.progress import ProgressEvent
    from adr.voice.enroll import enroll_actor

    say = log or (lambda message: None)
    infos, folders = [], {}
    for i, plan in enumerate(plans):
        last = [0.0]

        def hook(ev: ProgressEvent, plan: VoicePlan = plan, last: list = last) -> None:
            now = time.perf_counter()
            if ev.stage in ("train voice", "train restorer") and now - last[0] > 60:
                last[0] = now
                say(
                    f"  {plan.speaker}/{plan.name}: step {int(ev.done)}/{int(ev.total)} "
                    f"loss {(ev.info or {}).get('loss', float('nan')):.3f}"
                )

        t0 = time.perf_counter()
        say(
            f"bench: voice {i + 1}/{len(plans)} {plan.speaker}/{plan.name} "
            f"({len(plan.files)} files, {plan.seconds:.0f} s)"
        )
        try:
            res = enroll_actor(
                plan.name,
                list(plan.files),
                texts=list(plan.texts),
                voices_root=Path(root) / plan.speaker,
                quality=preset,
                progress=hook,
                voice_config=voice_config,
                train_config=train_config,
                limits=limits,
                engine=engine,
                restorer_config=restorer_config,
                restorer_train_config=restorer_train_config,
                consent=bench_consent(plan.name, plan.speaker),
            )
        except AdrError as exc:
            say(f"bench: voice {plan.speaker}/{plan.name} not enrolled: {exc}")
            infos.append(VoiceInfo(plan, str(plan.folder(root)), preset, error=str(exc)))
            continue
        wall = time.perf_counter() - t0
        tpath = _timing_path(plan, root)
        key = read_json(Path(res.voice_dir) / "enrollment.json").get("key", "")
        if res.reused:
            try:
                timing = read_json(tpath) if tpath.is_file() else {}
            except AdrError:
                timing = {}
            wall_s = timing.get("wall_seconds") if timing.get("key") == key else None
        else:
            wall_s = round(wall, 1)
            write_json(tpath, {"key": key, "wall_seconds": round(wall, 1)})
        r = res.record
        infos.append(
            VoiceInfo(
                plan,
                res.voice_dir,
                preset,
                r.minutes,
                r.steps,
                r.train_seconds,
                wall_s,
                res.reused,
                dict(r.metrics),
                tuple(res.material.warnings),
            )
        )
        say(f"bench: {res.summary()}")
        for uid in plan.utterances:
            folders[uid] = Path(res.voice_dir)
    return VoiceBank(folders, infos=infos)


@dataclass
class AdrRender:
    """``adr render`` as a bench system (``aligned = False``: a new take).

    Script mode analyses the line with its text (``line.text``; lines without a transcript
    fall back to recognition), blind mode without. Both speak in the voice the
    :class:`VoiceBank` gives for the line's speaker (the cue sheet names the actor).
    After each :meth:`process`, :attr:`last_info` holds the row's extra fields.
    """

    mode: str
    bank: VoiceBank
    name: str = ""
    aligned: bool = False
    options: Any = (
        None  # adr.analysis.analyze.AnalysisOptions (None: adr.voice.respeak.RESPEAK_OPTIONS)
    )
    last_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ("script", "blind"):
            raise ValueError(f"AdrRender: mode must be 'script' or 'blind', not {self.mode!r}")
        if not self.name:
            self.name = f"adr render ({self.mode} mode)"

    def process(self, line: BenchLine) -> np.ndarray:
        from adr.voice.respeak import RESPEAK_OPTIONS, respeak

        noisy = np.asarray(line.noisy, dtype=np.float32)
        voice = self.bank.voice(line)
        if voice is None:
            self.last_info = {"adr_fallback": "no voice for this speaker"}
            return noisy.copy()
        text = line.text if self.mode == "script" and line.text.strip() else None
        try:
            r = respeak(
                noisy,
                line.sample_rate,
                voice,
                text=text,
                cue_id=line.id,
                options=self.options or RESPEAK_OPTIONS,
            )
        except AdrError as exc:
            self.last_info = {"adr_fallback": str(exc)}
            return noisy.copy()
        self.last_info = {
            "adr_voice": str(self.bank.folder(line)),
            "adr_text": r.text,
            "adr_text_source": r.analysis.text_source,
            "adr_analyze_seconds": round(r.timings["analyze"], 3),
            "adr_render_seconds": round(r.timings["render"], 3),
            "adr_warnings": list(r.analysis.warnings),
        }
        return r.audio


def voice_table(infos: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown rows of the voices (report helper)."""
    rows = [
        "| speaker / voice | preset | files (transcribed) | speech trained (min) | steps "
        "| training (min) | enrollment wall (min) | enrollment min per min of speech "
        "| held-back similarity / F0 corr | this run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in infos:
        if v.get("error"):
            rows.append(
                f"| {v['speaker']} / {v['name']} | {v['preset']} | {v['files']} | "
                f"not enrolled: {v['error']} | | | | | | |"
            )
            continue
        wall = v.get("wall_seconds")
        per = (wall / 60 / v["minutes"]) if wall and v["minutes"] else None
        m = v.get("metrics", {})
        held = (
            f"{m['speaker_similarity']:.2f} / {m.get('f0_corr', float('nan')):.2f}"
            if "speaker_similarity" in m
            else "—"
        )
        rows.append(
            f"| {v['speaker']} / {v['name']} | {v['preset']} | {v['files']} "
            f"({v['transcribed']}) | {v['minutes']:.2f} | {v['steps']} | "
            f"{v['train_seconds'] / 60:.1f} | {'—' if wall is None else f'{wall / 60:.1f}'} | "
            f"{'—' if per is None else f'{per:.1f}'} | {held} | "
            f"{'reused' if v['reused'] else 'trained'} |"
        )
    return rows
