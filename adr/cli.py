"""The ``adr`` command: a thin layer over the library, one library call per command.

Every user error is printed as one line ``adr: error: <file>: <problem>`` with exit
status 2 and no traceback; an interrupted run exits 130 and resumes when run again.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from pathlib import Path

from adr import __version__
from adr.cli_checks import require_analysis, silence_warnings
from adr.cli_voice import add_voice_commands
from adr.core.errors import EXIT_USER_ERROR, AdrError
from adr.core.fsio import disk_full_error
from adr.ingest.lock import session_lock

EXIT_INTERRUPTED = 130


def _progress(args: argparse.Namespace):  # -> TqdmProgress
    from adr.core.progress import TqdmProgress

    args.bars = TqdmProgress(disable=args.quiet)
    return args.bars


def cmd_demo(args: argparse.Namespace) -> int:
    from adr.workflow import run_demo

    result = run_demo(
        Path(args.out),
        quick=args.quick,
        sessions_root=args.sessions,
        voices_root=args.voices,
        progress=_progress(args),
        log=_log(args),
    )
    print(result.summary())
    return 0


def cmd_session_new(args: argparse.Namespace) -> int:
    from adr.ingest.session import create_session

    s = create_session(
        args.name,
        args.picture,
        args.audio or (),
        frame_rate=args.fps,
        start_timecode=args.start_tc,
        root=args.sessions,
    )
    print(
        f"created {s.root} ({s.frame_rate} fps, starts {s.start_timecode}, "
        f"{s.duration:.2f} s, {len(s.audio)} audio file(s))"
    )
    if not args.quiet:
        for warning in s.warnings:
            print(f"adr: warning: {warning}", file=sys.stderr)
    return 0


def cmd_session_info(args: argparse.Namespace) -> int:
    from adr.ingest.session import load_session

    s = load_session(args.session, root=args.sessions)
    cues = s.read_cues()
    print(f"session {s.name}: {s.root}")
    print(
        f"  picture  {s.picture.path} ({s.duration:.2f} s, {s.frame_rate} fps, "
        f"start {s.start_timecode})"
    )
    for a in s.audio:
        print(f"  audio    {a.path} ({a.duration:.2f} s, {a.sample_rate} Hz, {a.channels} ch)")
    for warning in s.warnings:
        print(f"  warning  {warning}")
    print(f"  cues     {len(cues)} ({s.cues_path})")
    for c in cues:
        print(
            f"    {c.id:<8} {s.to_timecode(c.start)}  {s.to_timecode(c.end)}  "
            f"{c.character or '-':<10} {c.status:<9} {c.text[:60]}"
        )
    return 0


def cmd_cues_import(args: argparse.Namespace) -> int:
    from adr.ingest.session import load_session

    s = load_session(args.session, root=args.sessions)
    with session_lock(s.root, "cues import"):
        cues = s.import_cues(args.csv)
    print(f"imported {len(cues)} cue(s) into {s.cues_path}")
    return 0


def cmd_cues_export(args: argparse.Namespace) -> int:
    from adr.ingest.cues import cues_to_csv
    from adr.ingest.session import load_session

    s = load_session(args.session, root=args.sessions)
    cues = s.read_cues()
    if args.out in (None, "-"):
        sys.stdout.write(cues_to_csv(cues, s.timecode))
    else:
        s.export_cues(args.out)
        print(f"wrote {len(cues)} cue(s) to {args.out}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from adr.analysis.analyze import AnalysisOptions, analyze_session
    from adr.ingest.session import load_session

    s = load_session(args.session, root=args.sessions)
    options = AnalysisOptions(
        whisper_model=args.whisper_model, lips=not args.no_lips, dnsmos=args.dnsmos
    )
    if args.whisper_model:  # an unknown or unreachable model fails now, not after denoising
        from adr.analysis.asr import load_model

        load_model(args.whisper_model)
    with session_lock(s.root, "analyze"):
        lines = analyze_session(
            s,
            voices_root=args.voices,
            cue_ids=args.cue or None,
            options=options,
            progress=_progress(args),
        )
    for line in lines:
        flag = "FLAGGED" if line.damage.flagged else "ok"
        print(
            f"{line.cue.id:<8} {line.speaker.actor:<10} {flag:<8} SNR {line.damage.snr_db:5.1f} dB"
            f"  {line.text_source:<10} {line.text[:50]}"
        )
        for warning in line.warnings:
            print(f"         warning: {warning}")
    print(f"analysis of {len(lines)} line(s) in {s.analysis_dir}; cue sheet {s.cues_path}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from adr.ingest.session import load_session
    from adr.voice.render import render_session

    s = load_session(args.session, root=args.sessions)
    require_analysis(s, args.cue)
    with session_lock(s.root, "render"):
        takes = render_session(
            s,
            voices_root=args.voices,
            cue_ids=args.cue or None,
            mode="blind" if args.blind else "script",
            progress=_progress(args),
            force=args.force,
        )
    for t in takes:
        print(
            f"{t.cue_id:<8} {t.actor:<10} {s.to_timecode(t.start)}-{s.to_timecode(t.end)}  {t.path}"
        )
    print(f"{len(takes)} take(s) in {s.renders_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from adr.deliver.c2pa_sign import NO_KEY_NOTE, key_from_env
    from adr.deliver.export import export_session
    from adr.ingest.session import load_session

    s = load_session(args.session, root=args.sessions)
    c2pa_key = key_from_env()
    if c2pa_key is None and not args.quiet:
        print(f"adr: note: {NO_KEY_NOTE}", file=sys.stderr)
    with session_lock(s.root, "export"):
        result = export_session(
            s,
            spec=args.spec,
            repair=args.repair,
            progress=_progress(args),
            voices_root=args.voices,
            c2pa_key=c2pa_key,
        )
    loud = result.stem_loudness
    print(
        f"{len(result.cues)} cue(s) delivered; stem {result.stem}: {loud.after:.1f} "
        f"({result.spec}), true peak {loud.true_peak:.1f} dBTP; "
        f"{len(result.written)} file(s) written in {s.deliverables_dir}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from adr.deliver.watermark import verify_file

    for path in args.files:
        verdict = verify_file(path)
        print(verdict.summary())
        if args.seconds:
            for w in verdict.windows:
                print(f"  {w.start:8.1f} s  {'MARKED' if w.marked else '-':<6}  {w.confidence:.2f}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from adr.deliver.report import write_report
    from adr.ingest.session import load_session

    s = load_session(args.session, root=args.sessions)
    page = write_report(s, progress=_progress(args))
    print(f"report: {page}")
    return 0


def _log(args: argparse.Namespace):
    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    return log


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adr",
        description="Automatic dialog replacement: re-speak noisy production dialog in the "
        "actor's own voice, in sync with picture.",
    )
    p.add_argument("--version", action="version", version=f"adr {__version__}")
    p.add_argument(
        "--sessions", default="sessions", help="folder of sessions (default: ./sessions)"
    )
    p.add_argument(
        "--voices", default="voices", help="folder of enrolled voices (default: ./voices)"
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars or warnings: print only results and errors",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="build the built-in demo production and run the pipeline on it")
    d.add_argument(
        "--out",
        default="sessions/demo-production",
        help="where to build the demo media (default: sessions/demo-production)",
    )
    d.add_argument("--quick", action="store_true", help="smaller enrollment sets (for a fast look)")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("session", help="create or inspect an ADR session")
    ss = s.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    n = ss.add_parser("new", help="create sessions/NAME for a picture and its production audio")
    n.add_argument("name")
    n.add_argument("--picture", required=True, help="picture file (mov, mp4, mxf, mpg, avi)")
    n.add_argument(
        "--audio",
        action="append",
        help="production audio file (repeatable); default: the picture's own audio",
    )
    n.add_argument("--fps", help="frame rate override: 23.976, 24, 25, 29.97, 29.97df, 30")
    n.add_argument(
        "--start-tc",
        help="timecode of the first frame (default: from the picture, else 01:00:00:00)",
    )
    n.set_defaults(func=cmd_session_new)
    i = ss.add_parser("info", help="show a session and its cues")
    i.add_argument("session")
    i.set_defaults(func=cmd_session_info)

    c = sub.add_parser("cues", help="import or export the ADR cue sheet (CSV)")
    cs = c.add_subparsers(dest="cues_command", required=True, metavar="ACTION")
    ci = cs.add_parser("import", help="replace the session's cue sheet with a CSV")
    ci.add_argument("session")
    ci.add_argument("csv")
    ci.set_defaults(func=cmd_cues_import)
    ce = cs.add_parser("export", help="write the session's cue sheet as CSV (stdout or a file)")
    ce.add_argument("session")
    ce.add_argument("out", nargs="?")
    ce.set_defaults(func=cmd_cues_export)

    a = sub.add_parser(
        "analyze",
        help="transcribe, align, measure prosody, identify the actor, "
        "track the lips and flag damage for each cue of a session",
    )
    a.add_argument("session")
    a.add_argument("--cue", action="append", help="only this cue id (repeatable)")
    a.add_argument(
        "--whisper-model",
        help="Whisper model: a path or a hub name "
        "(default: the offline model shipped with adr's dependencies)",
    )
    a.add_argument("--no-lips", action="store_true", help="skip the lip track")
    a.add_argument(
        "--dnsmos",
        action="store_true",
        help="also score each line with DNSMOS (1-3 s per line; reported, not used to flag)",
    )
    a.set_defaults(func=cmd_analyze)

    add_voice_commands(sub)  # adr enroll, adr voice (adr.cli_voice)

    r = sub.add_parser(
        "render", help="re-speak the session's flagged cues in the actors' voices into renders/"
    )
    r.add_argument("session")
    r.add_argument(
        "--cue", action="append", help="only this cue id (repeatable; default: every flagged cue)"
    )
    r.add_argument(
        "--blind", action="store_true", help="speak the recognized text instead of the cue sheet's"
    )
    r.add_argument("--force", action="store_true", help="render again even if up to date")
    r.set_defaults(func=cmd_render)

    x = sub.add_parser(
        "export",
        help="conform the renders to picture and write the "
        "deliverables (BWF per cue, dialog stem, OTIO/EDL, cue sheet)",
    )
    x.add_argument("session")
    x.add_argument(
        "--spec",
        default="-24",
        help="dialog stem loudness: -24 (ATSC A/85), "
        "-23 (EBU R128) or -27 (dialog-gated) (default: -24)",
    )
    x.add_argument(
        "--repair",
        choices=("auto", "partial", "whole"),
        default="auto",
        help="replace only the damaged spans, or whole lines (default: auto, per cue)",
    )
    x.set_defaults(func=cmd_export)

    vf = sub.add_parser(
        "verify",
        help="tell whether audio files carry adr's watermark "
        "(per file; per second on files longer than 12 s)",
    )
    vf.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="audio files (WAV, FLAC, MP3, AAC, a picture's audio ...)",
    )
    vf.add_argument(
        "--seconds", action="store_true", help="print every one-second window of a long file"
    )
    vf.set_defaults(func=cmd_verify)

    rp = sub.add_parser("report", help="write the HTML review report of a session")
    rp.add_argument("session")
    rp.set_defaults(func=cmd_report)
    from adr.film.cli import add_commands  # adr project, adr batch (issue #13)

    add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``adr`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    silence_warnings(args.quiet)
    try:
        return int(args.func(args) or 0)
    except AdrError as exc:
        print(f"adr: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # a full disk met outside adr's own atomic writes (a library writing a cache ...)
        print(f"adr: error: {disk_full_error(exc.filename or Path.cwd() / '?')}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(
            "adr: interrupted; finished work is kept, run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        if getattr(args, "bars", None) is not None:
            args.bars.close()  # a stage that skipped items leaves its bar open


if __name__ == "__main__":
    sys.exit(main())
