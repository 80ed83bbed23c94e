"""The session lock inside the library calls (issue #11): re-entrant, refused across holders.

``analyze_session``, ``render_session``, ``export_session`` and ``Session.import_cues`` take
the lock themselves (a script using the library is serialized like the CLI); the CLI holds it
around them without deadlocking (the lock is re-entrant within a thread).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from media_files import make_picture

from adr.core.errors import AdrError
from adr.ingest.lock import LOCK_NAME, session_lock


def test_lock_is_reentrant_in_one_thread(tmp_path: Path) -> None:
    with session_lock(tmp_path, "analyze") as outer:
        with session_lock(tmp_path, "cues import") as inner:
            assert inner is outer
        assert (tmp_path / LOCK_NAME).exists()  # the inner exit keeps the outer's lock
        assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "analyze"
    assert not (tmp_path / LOCK_NAME).exists()


def test_another_thread_is_refused(tmp_path: Path) -> None:
    errors: list[Exception] = []

    def other() -> None:
        try:
            with session_lock(tmp_path, "render"):
                pass
        except AdrError as exc:
            errors.append(exc)

    with session_lock(tmp_path, "analyze"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1 and "adr analyze" in str(errors[0])


_HOLD = (
    "import sys, time\nfrom adr.ingest.lock import session_lock\n"
    "with session_lock(sys.argv[1], 'analyze'):\n"
    "    print('held', flush=True)\n    time.sleep(30)\n"
)


@pytest.fixture()
def held(tmp_path: Path):
    """A session folder locked by another (live) process."""
    from adr.ingest.session import Session, create_session

    if not __import__("shutil").which("ffmpeg"):
        pytest.skip("ffmpeg is needed")
    import numpy as np
    import soundfile as sf

    pic = make_picture(tmp_path / "p.mp4", 2)
    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(96000) / 20)).astype(np.float32), 48000)
    s: Session = create_session("reel", pic, [wav], root=tmp_path / "sessions")
    csv = tmp_path / "c.csv"
    csv.write_text("cue_id,tc_in,tc_out,text\n1,01:00:00:05,01:00:01:00,Hello.\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(s.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield s, csv, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_library_calls_take_the_lock(held) -> None:
    """Each library call is refused while another process holds the session, naming it,
    and changes nothing."""
    from adr.analysis.analyze import analyze_session
    from adr.deliver.export import export_session
    from adr.voice.render import render_session

    s, csv, pid = held
    before = sorted(p.name for p in s.root.rglob("*"))
    calls = [
        lambda: s.import_cues(csv),
        lambda: analyze_session(s),
        lambda: render_session(s),
        lambda: export_session(s),
    ]
    for call in calls:
        with pytest.raises(AdrError, match=f"in use by adr analyze \\(pid {pid}"):
            call()
    assert sorted(p.name for p in s.root.rglob("*")) == before
    assert json.loads((s.root / LOCK_NAME).read_text())["pid"] == pid != os.getpid()
