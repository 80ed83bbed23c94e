"""The HTML review report: contents, files, and rendering in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from deliver_session import Built, build

from adr.core.errors import AdrError
from adr.deliver.export import export_session
from adr.deliver.report import write_report
from adr.ingest.session import load_session


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory)


@pytest.fixture(scope="module")
def page(built: Built) -> Path:
    if not (built.session.deliverables_dir / "export.json").exists():
        export_session(built.session)
    events = []
    path = write_report(built.session, progress=events.append)
    assert events[-1].done == events[-1].total == 3
    return path


def _sections(text: str) -> dict[str, str]:
    return dict(re.findall(r'<section class="cue" id="cue-([^"]+)">(.*?)</section>', text, re.S))


def test_report_contents(page: Path) -> None:
    assert page.name == "index.html" and page.parent.name == "report"
    text = page.read_text()
    sections = _sections(text)
    assert list(sections) == ["101", "102", "103"]
    for cue in ("101", "102"):
        s = sections[cue]
        assert s.count("<audio") == 3
        for kind in ("production", "render", "repair"):
            assert f'src="{cue}_{kind}.wav"' in s
        for img in ("frame", "wave", "pitch"):
            assert f'src="{cue}_{img}.png"' in s
        for label in ("SNR", "DNSMOS", "word error", "speaker", "A/V offset", "repair", "timing"):
            assert label in s
    assert sections["103"].count("<audio") == 1 and "production only" in sections["103"]
    assert "+20 ms" in sections["101"] and "KAL" in sections["101"]
    assert "partial" in sections["101"] and "whole" in sections["102"]
    for src in re.findall(r'src="([^"]+)"', text):
        f = page.parent / src
        assert f.is_file() and f.stat().st_size > 1000, src
        if src.endswith(".wav"):
            assert sf.info(str(f)).frames > 0
    assert "LKFS" in text


def _dump_dom(url: str) -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    out = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-500:]
    return out.stdout


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="chromium is not installed",
)
def test_report_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    dom = _dump_dom(page.as_uri())
    assert 'data-ready="1"' in dom
    imgs = re.findall(r"<img [^>]*>", dom)
    audios = re.findall(r"<audio [^>]*>", dom)
    assert len(imgs) == 9 and len(audios) == 7
    assert all('data-loaded="1"' in tag for tag in imgs + audios), imgs + audios
    # the check notices a missing image
    copy = tmp_path / "report"
    shutil.copytree(page.parent, copy)
    (copy / "102_wave.png").unlink()
    dom = _dump_dom((copy / "index.html").as_uri())
    assert len(re.findall(r'data-loaded="0"', dom)) == 1 and "image missing" in dom


def test_report_without_export_or_render(built: Built, tmp_path: Path) -> None:
    dst = tmp_path / "reel"
    shutil.copytree(built.session.root, dst, ignore=shutil.ignore_patterns("deliverables"))
    s = load_session(dst)
    for p in s.renders_dir.glob("102.*"):
        p.unlink()
    (s.analysis_dir / "103.json").unlink()
    text = write_report(s, frames=False).read_text()
    sections = _sections(text)
    assert sections["101"].count("<audio") == 2  # production and render, no repair yet
    assert sections["102"].count("<audio") == 1 and "production only" in sections["102"]
    assert "frame.png" not in text and "SNR" not in sections["103"]
    s.cues_path.unlink()
    with pytest.raises(AdrError, match="no cues"):
        write_report(s)
