"""``adr demo``: the whole pipeline on the built-in demo production.

It builds the demo production (actors' clean enrollment speech, a noisy scene, a talking-head
picture with timecode, the ground truth), creates the ``demo`` session for it with the
scene's cue sheet, and runs every pipeline stage that exists on it. Each stage reuses what
a previous run finished, so a rerun after an interruption picks up where it stopped.

The demo's actors are synthesizers, not people, but the demo goes through consent like a
production: it writes a consent record per actor (``consent.toml`` beside the actor's
enrollment material: the ``demo`` session, replacing lines and text edits) and enrolls with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adr.core.progress import ProgressHook

__all__ = ["DemoResult", "run_demo"]

DEMO_SESSION = "demo"
#: Training time per demo actor (seconds) of the harmonic-plus-noise engine (``engine="ddsp"``).
DEMO_TRAIN_SECONDS = 120.0
QUICK_TRAIN_SECONDS = 90.0
#: Restorer training steps per demo actor (work, not time: the same voices on any machine),
#: fewer than the fast preset's so that the whole demo stays within about 15 minutes.
DEMO_RESTORER_STEPS = 1500
QUICK_RESTORER_STEPS = 800


def demo_consent(folder: Path, actor: str, character: str, voice: str) -> Path:
    """Write (once) the consent record of a demo actor into ``folder/consent.toml``."""
    from adr.core.fsio import write_text

    path = folder / "consent.toml"
    if not path.is_file():
        write_text(
            path,
            f'''# Consent record of a demo actor: a synthesizer ({voice}), no real person.
actor = "{actor}"
name = "{character} (synthetic demo voice {voice})"
granted_by = "adr demo"
granted_on = 2026-01-01
productions = ["{DEMO_SESSION}"]
uses = ["replace", "edit"]
expires = 2099-12-31
note = "written by adr demo for its synthetic actors"
''',
        )
    return path


@dataclass(frozen=True)
class DemoResult:
    """Where ``adr demo`` put everything.

    Attributes
    ----------
    production : Path
        The generated demo production (media and ground truth).
    session : Path
        The ``demo`` session folder.
    steps : tuple of str
        What ran, in order, with a short result each.
    """

    production: Path
    session: Path
    steps: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        lines = [
            "adr demo: done",
            f"  production  {self.production}",
            f"  session     {self.session}",
        ]
        lines += [f"  - {s}" for s in self.steps]
        return "\n".join(lines)


def run_demo(
    out: str | Path = "sessions/demo-production",
    *,
    quick: bool = False,
    sessions_root: str | Path = "sessions",
    voices_root: str | Path = "voices",
    progress: ProgressHook | None = None,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build the demo production and run the pipeline on it (``adr demo``).

    Parameters
    ----------
    out : path
        Folder of the demo production's media.
    quick : bool
        Smaller enrollment sets and the fast training preset.
    sessions_root, voices_root : path
        Where sessions and enrolled voices live.
    progress : callable, optional
        Progress hook (the CLI passes a tqdm bar).
    log : callable, optional
        Receives one line per finished step.
    """
    from adr.analysis.analyze import analyze_session
    from adr.core.consent import read_consent
    from adr.deliver.export import export_session
    from adr.deliver.report import write_report
    from adr.demo import build_demo
    from adr.ingest.session import create_session
    from adr.voice.enroll import enroll_actor
    from adr.voice.render import render_session
    from adr.voice.train import preset
    from adr.voice.train_restorer import restorer_preset

    say = log or (lambda message: None)
    steps: list[str] = []

    def step(message: str) -> None:
        steps.append(message)
        say(f"adr demo: {message}")

    prod = build_demo(Path(out), quick=quick, progress=progress)
    step(
        f"production built: {len(prod.cues)} lines, {len(prod.actors)} actors, "
        f"picture {prod.picture}"
    )
    budget = QUICK_TRAIN_SECONDS if quick else DEMO_TRAIN_SECONDS
    train_config = dataclasses.replace(preset("fast"), max_seconds=budget)
    restorer_train = dataclasses.replace(
        restorer_preset("fast"), steps=QUICK_RESTORER_STEPS if quick else DEMO_RESTORER_STEPS
    )
    for info in prod.actors:
        folder = prod.enrollment_dir(info.actor)
        consent = read_consent(demo_consent(folder, info.actor, info.character, info.voice))
        result = enroll_actor(
            info.actor,
            sorted(folder.glob("*.wav")),
            texts=folder / "transcript.tsv",
            voices_root=voices_root,
            quality="fast",
            train_config=train_config,
            restorer_train_config=restorer_train,
            progress=progress,
            consent=consent,
        )
        step(f"voice enrolled: {result.summary()}")

    session = create_session(
        DEMO_SESSION,
        prod.picture,
        [prod.production_audio],
        root=sessions_root,
        exist_ok=True,
    )
    if not session.cues_path.exists():
        session.write_cues(list(prod.cues))
    step(f"session ready: {session.root} (cue sheet {session.cues_path})")

    lines = analyze_session(session, voices_root=voices_root, progress=progress)
    flagged = [line.cue.id for line in lines if line.damage.flagged]
    step(
        f"analysis: {len(lines)} lines in {session.analysis_dir}; "
        f"{len(flagged)} flagged for replacement ({', '.join(flagged) or 'none'})"
    )
    takes = render_session(session, voices_root=voices_root, progress=progress)
    step(f"renders: {len(takes)} takes in {session.renders_dir}")
    if takes:
        exported = export_session(session, progress=progress)
        delivered = sum(1 for c in exported.cues if c.file)
        step(
            f"deliverables: {delivered} Broadcast WAVs, dialog stem, OTIO/EDL and "
            f"cue sheet in {session.deliverables_dir}"
        )
    page = write_report(session, progress=progress)
    step(f"review report: {page}  (open it in a browser)")
    return DemoResult(production=prod.root, session=session.root, steps=tuple(steps))
