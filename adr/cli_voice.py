"""The voice commands of ``adr``: ``adr enroll`` and ``adr voice info|consent``.

The same thin layer as :mod:`adr.cli` (one library call per command, user errors as one
line); here also the actor's consent given on the command line (``--consent FILE`` or the
``--consent-*`` flags), required before any enrollment work.
"""

from __future__ import annotations

import argparse
from typing import Any

from adr.cli_checks import check_text_args
from adr.core.errors import AdrError

__all__ = ["add_voice_commands", "cmd_enroll", "cmd_voice_consent", "cmd_voice_info"]


def cmd_enroll(args: argparse.Namespace) -> int:
    from adr.core.names import child_path

    child_path(args.voices, args.actor, kind="actor id")  # the names rule, before any work
    check_text_args(args.text)
    texts = args.text[0] if args.text and len(args.text) == 1 else args.text
    if args.check:
        from adr.voice.material import check_material

        report = check_material(args.audio, texts, actor=args.actor)
        print(report.summary())
        report.raise_for_refusals()
        return 0
    from adr.cli import _progress  # one progress hook for every command
    from adr.voice.enroll import enroll_actor

    consent = _consent_arg(args)  # before any work: no consent, no voice
    result = enroll_actor(
        args.actor,
        args.audio,
        texts=texts,
        video_paths=args.video,
        voices_root=args.voices,
        quality=args.quality,
        progress=_progress(args),
        resume=not args.fresh,
        engine=args.engine,
        consent=consent,
    )
    print(result.summary())
    return 0


_CONSENT_FLAGS = (
    "name",
    "granted_by",
    "granted_on",
    "productions",
    "uses",
    "expires",
    "note",
    "reference",
)


def _consent_arg(args: argparse.Namespace):  # -> ConsentRecord
    """The consent of ``adr enroll``: ``--consent FILE`` or the ``--consent-*`` flags."""
    import datetime as dt

    from adr.core.consent import ConsentRecord, read_consent

    flags = {
        k: getattr(args, f"consent_{k}")
        for k in _CONSENT_FLAGS
        if getattr(args, f"consent_{k}") is not None
    }
    if args.consent and flags:
        raise AdrError("--consent", "give a consent file or the --consent-* flags, not both")
    if args.consent:
        return read_consent(args.consent)
    if not flags:
        raise AdrError(
            args.actor,
            "no consent record: a voice is the actor's likeness; give "
            "the actor's consent with --consent FILE (TOML or JSON) or the "
            "--consent-* flags; nothing was done",
        )
    flags.setdefault("granted_on", dt.datetime.now(dt.UTC).date().isoformat())
    flags.setdefault("uses", ["replace"])
    for k in ("name", "granted_by", "productions", "expires"):
        if k not in flags:
            raise AdrError(
                f"--consent-{k.replace('_', '-')}",
                "missing (needed with the other --consent-* flags)",
            )
    try:
        return ConsentRecord(actor=args.actor, **flags)
    except (ValueError, TypeError) as exc:
        raise AdrError("--consent-*", f"invalid consent record: {exc}") from None


def cmd_voice_info(args: argparse.Namespace) -> int:
    from adr.core.names import child_path
    from adr.voice.voicefile import describe_voice

    print(describe_voice(child_path(args.voices, args.actor, kind="actor id")))
    return 0


def cmd_voice_consent(args: argparse.Namespace) -> int:
    from adr.core.consent import read_consent
    from adr.core.names import child_path
    from adr.voice.voicefile import update_consent

    folder = child_path(args.voices, args.actor, kind="actor id")
    consent = read_consent(args.update)
    changes = update_consent(folder, consent)
    if not changes:
        print(f"voice {args.actor}: consent unchanged ({consent.consent_id})")
        return 0
    print(
        f"voice {args.actor}: consent {consent.consent_id} recorded; the previous record is "
        "kept in the voice's history"
    )
    for c in changes:
        print(f"  {c}")
    return 0


def add_voice_commands(sub: Any) -> None:
    """Add ``enroll`` and ``voice`` to the ``adr`` command's subparsers."""
    e = sub.add_parser(
        "enroll",
        help="check an actor's clean recordings and train their voice model into voices/ACTOR",
    )
    e.add_argument("actor")
    e.add_argument("--audio", nargs="+", required=True, help="clean recordings of the actor")
    e.add_argument(
        "--text",
        nargs="+",
        help="what is said: one transcript file (TSV "
        "'file<TAB>text' or one line per audio file), or one text file per audio "
        "file; default: recognized by Whisper",
    )
    e.add_argument("--video", nargs="+", help="picture of the recordings, for the lips (optional)")
    e.add_argument(
        "--quality",
        choices=("fast", "default", "best"),
        default="default",
        help="training preset, in steps: fast (2000), default (4000), best (12000)",
    )
    e.add_argument(
        "--engine",
        choices=("restorer", "ddsp"),
        default="restorer",
        help="voice model: the speech restorer (default) or the format-1 harmonic-plus-noise model",
    )
    e.add_argument(
        "--consent",
        metavar="FILE",
        help="the actor's consent record (TOML or "
        "JSON: actor, name, granted_by, granted_on, productions, uses, expires, "
        "note); required unless given with the --consent-* flags",
    )
    e.add_argument("--consent-name", help="consent: the person whose voice it is")
    e.add_argument("--consent-granted-by", help="consent: who granted it")
    e.add_argument("--consent-granted-on", help="consent: date granted (default: today)")
    e.add_argument(
        "--consent-productions",
        nargs="+",
        metavar="PATTERN",
        help="consent: session names covered (patterns, e.g. 'nightshift-*')",
    )
    e.add_argument(
        "--consent-uses",
        nargs="+",
        choices=("replace", "edit", "new"),
        help="consent: uses covered (default: replace)",
    )
    e.add_argument("--consent-expires", help="consent: last day covered (YYYY-MM-DD)")
    e.add_argument("--consent-note", help="consent: a free note")
    e.add_argument("--consent-reference", help="consent: the agreement's reference")
    e.add_argument("--check", action="store_true", help="only check the material and report")
    e.add_argument(
        "--fresh",
        action="store_true",
        help="start training again instead of resuming from the last checkpoint",
    )
    e.set_defaults(func=cmd_enroll)

    v = sub.add_parser("voice", help="inspect an enrolled voice or update its consent")
    vs = v.add_subparsers(dest="voice_command", required=True, metavar="ACTION")
    vi = vs.add_parser("info", help="show a voice's material, training, metrics and consent")
    vi.add_argument("actor")
    vi.set_defaults(func=cmd_voice_info)
    vc = vs.add_parser(
        "consent", help="replace a voice's consent record (the old one is kept in its history)"
    )
    vc.add_argument("actor")
    vc.add_argument(
        "--update", required=True, metavar="FILE", help="the new consent record (TOML or JSON)"
    )
    vc.set_defaults(func=cmd_voice_consent)
