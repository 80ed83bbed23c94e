"""The film commands of ``adr``: ``adr project new|status`` and ``adr batch``.

Kept apart from :mod:`adr.cli`, which adds them with :func:`add_commands`; they follow its
rules (one library call each, user errors as :class:`AdrError`).
"""

from __future__ import annotations

import argparse
from typing import Any


def _project(args: argparse.Namespace) -> Any:
    from adr.film.project import load_project

    return load_project(args.film, args.projects)


def cmd_project_new(args: argparse.Namespace) -> int:
    from adr.core.errors import AdrError
    from adr.film.project import ProjectOptions, new_project

    cast = {}
    for item in args.actor or ():
        actor, sep, folder = item.partition("=")
        if not sep or not actor or not folder:
            raise AdrError(
                item,
                "--actor wants ACTOR=FOLDER (the actor's recordings, "
                "consent.toml, optional transcript.tsv)",
            )
        cast[actor] = folder
    options = ProjectOptions(quality=args.quality)
    project = new_project(
        args.film,
        list(args.reel or ()),
        cast,
        folder=args.projects,
        options=options,
        overwrite=args.force,
    )
    print(
        f"project {project.film}: {project.path} ({len(project.reels)} reel(s), "
        f"{len(project.cast)} actor(s))"
    )
    return 0


def cmd_project_status(args: argparse.Namespace) -> int:
    from adr.film.status import project_status

    status = project_status(_project(args), sessions_root=args.sessions, voices_root=args.voices)
    print(status.table())
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from adr.core.progress import TqdmProgress
    from adr.film.batch import run_batch

    project = _project(args)
    args.bars = TqdmProgress(disable=args.quiet)
    summary = run_batch(
        project,
        args.stage,
        sessions_root=args.sessions,
        voices_root=args.voices,
        reels=args.reel or None,
        address=args.address,
        num_cpus=args.cpus,
        progress=args.bars,
    )
    args.bars.close()
    print(summary.summary())
    if args.json:
        import json

        from adr.core.fsio import write_text

        write_text(args.json, json.dumps(summary.to_dict(), indent=1) + "\n")
    summary.raise_for_failures()
    return 0


def add_commands(sub: Any) -> None:
    """Add ``project`` and ``batch`` to the ``adr`` subcommands."""
    p = sub.add_parser("project", help="a film's project file: its reels (sessions) and cast")
    ps = p.add_subparsers(dest="project_command", required=True, metavar="ACTION")
    n = ps.add_parser("new", help="write projects/FILM.toml listing the reels and the cast")
    n.add_argument("film", help="film name (or a path ending in .toml)")
    n.add_argument("--reel", action="append", help="a reel's session name (repeatable, in order)")
    n.add_argument(
        "--actor",
        action="append",
        metavar="ACTOR=FOLDER",
        help="a cast member and the folder of their clean recordings (*.wav, "
        "*.flac), consent.toml and optional transcript.tsv (repeatable)",
    )
    n.add_argument(
        "--quality",
        default="fast",
        choices=["fast", "default", "best"],
        help="enrollment preset of the cast (default: fast)",
    )
    n.add_argument("--force", action="store_true", help="replace an existing project file")
    n.set_defaults(func=cmd_project_new)
    st = ps.add_parser("status", help="per reel and actor: analyzed, flagged, rendered, exported")
    st.add_argument("film", help="film name (or a path ending in .toml)")
    st.set_defaults(func=cmd_project_status)
    for q in (n, st):
        q.add_argument(
            "--projects", default="projects", help="folder of project files (default: ./projects)"
        )

    b = sub.add_parser(
        "batch",
        help="run a film's pending enrollments, analyses, renders and "
        "exports as Ray tasks (this machine, or a Ray cluster)",
    )
    b.add_argument("film", help="film name (or a path ending in .toml)")
    b.add_argument(
        "stage",
        nargs="?",
        default="all",
        choices=["enroll", "analyze", "render", "export", "all"],
        help="what to run (default: all, each stage after the one it needs)",
    )
    b.add_argument("--reel", action="append", help="only this reel (repeatable)")
    b.add_argument(
        "--address",
        help="an existing Ray cluster (ray start --head prints it; "
        "'auto': the one on this machine); default: a local Ray on this machine",
    )
    b.add_argument("--cpus", type=int, help="CPUs of the local Ray (default: all cores)")
    b.add_argument("--json", help="also write the summary (every unit's times) to this file")
    b.add_argument(
        "--projects", default="projects", help="folder of project files (default: ./projects)"
    )
    b.set_defaults(func=cmd_batch)
