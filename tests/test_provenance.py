"""Every synthetic line says so (issue #12): deliverables read back, ``adr verify``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from deliver_session import Built, build, provenance, speech

from adr.cli import main
from adr.core.errors import AdrError
from adr.deliver.c2pa_sign import C2paKey
from adr.deliver.export import ExportResult, export_session
from adr.deliver.report import write_report
from adr.ingest.bwf import read_bext, read_provenance
from adr.ingest.session import Session, load_session


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory)


@pytest.fixture(scope="module")
def copy(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Session:
    dst = tmp_path_factory.mktemp("prov") / "reel"
    shutil.copytree(built.session.root, dst)
    return load_session(dst)


@pytest.fixture(scope="module")
def exported(copy: Session) -> ExportResult:
    return export_session(copy, spec="-24")


def test_deliverables_mark_synthetic_lines(copy: Session, exported: ExportResult) -> None:
    prov = provenance("KAL")
    root, name = copy.root, copy.name
    for cue in ("101", "102"):
        wav = root / "deliverables" / "adr" / f"{cue}.wav"
        desc = read_bext(wav).description
        assert desc.startswith(
            f"SYNTHETIC ADR cue {cue} | voice KAL | {prov.consent_id} | "
            "adr 0.1.0 | 2026-12-06T10:00:00Z"
        )
        assert read_provenance(wav) == prov.fields()
    from adr.deliver.watermark import THRESHOLD, detect

    for d in exported.cues:  # marked after conforming (102's take is time-stretched)
        if d.conform.mode == "whole":
            audio, sr = sf.read(str(root / d.file), dtype="float32")
            assert detect(audio, sr) >= THRESHOLD, d.cue_id
    stem = read_bext(root / exported.stem).description
    assert "contains 2 SYNTHETIC ADR lines: 101 102" in stem
    rows = list(
        csv.DictReader(io.StringIO((root / "deliverables" / f"{name}_cues.csv").read_text()))
    )
    assert [(r["cue_id"], r["synthetic"], r["voice"], r["consent_id"]) for r in rows] == [
        ("101", "yes", "KAL", prov.consent_id),
        ("102", "yes", "KAL", prov.consent_id),
        ("103", "no", "", ""),
    ]
    page = (root / "deliverables" / f"{name}_cues.html").read_text()
    assert page.count(f"SYNTHETIC: voice KAL, {prov.consent_id}") == 2
    otio = json.loads((root / "deliverables" / f"{name}.otio").read_text())
    clips = [
        c
        for t in otio["tracks"]["children"]
        if t["name"].startswith("ADR")
        for c in t["children"]
        if c["OTIO_SCHEMA"].startswith("Clip")
    ]
    assert len(clips) == 2
    for c in clips:
        assert c["metadata"]["adr"]["synthetic"] is True
        assert c["metadata"]["adr"]["provenance"] == prov.fields()
    edl = (root / "deliverables" / f"{name}.edl").read_text()
    marks = [ln for ln in edl.splitlines() if ln.startswith("* ADR SYNTHETIC")]
    assert marks == [f"* ADR SYNTHETIC VOICE KAL {prov.consent_id} ADR 0.1.0"] * 2
    report = write_report(copy, frames=False).read_text()
    assert report.count("SYNTHETIC line rendered by voice KAL") == 2
    assert report.count(f"SYNTHETIC voice KAL, {prov.consent_id}") == 2


def test_export_rechecks_the_voice_and_refuses_old_takes(
    copy: Session, exported: ExportResult, tmp_path: Path
) -> None:
    from consent_data import consent_for
    from tiny_voice import SMALLEST, save_untrained_voice

    save_untrained_voice(
        tmp_path / "KAL", "KAL", consent_for("KAL", productions=("elsewhere",)), SMALLEST
    )  # narrowed since
    before = {p: p.stat().st_mtime_ns for p in copy.deliverables_dir.rglob("*") if p.is_file()}
    with pytest.raises(AdrError, match="voice KAL: consent .* does not cover session 'reel'"):
        export_session(copy, voices_root=tmp_path)
    take = json.loads((copy.renders_dir / "101.json").read_text())
    take["provenance"] = None  # rendered by an adr before issue #12
    (copy.renders_dir / "101.json").write_text(json.dumps(take))
    with pytest.raises(AdrError, match="no provenance .* adr render reel --cue 101 --force"):
        export_session(copy)
    after = {p: p.stat().st_mtime_ns for p in copy.deliverables_dir.rglob("*") if p.is_file()}
    assert after == before  # nothing written


def test_verify_per_file_and_per_second(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from adr.deliver.watermark import embed

    rng = np.random.default_rng(0)
    ((voice, _, _),) = speech(["Nobody moves until I say so, roll sound."])  # festival, 48 kHz
    voice = np.pad(voice, (0, max(0, 48000 * 3 - len(voice))))[: 48000 * 3]
    voice = (voice + 0.003 * rng.standard_normal(len(voice))).astype(np.float32)
    sf.write(tmp_path / "marked.wav", embed(voice, 48000), 48000, subtype="PCM_24")
    sf.write(tmp_path / "plain.wav", voice, 48000, subtype="PCM_24")
    long = np.concatenate([voice] * 2 + [embed(voice, 48000)] + [voice] * 2)  # 15 s
    sf.write(tmp_path / "stem.wav", long, 48000, subtype="PCM_24")
    assert (
        main(
            [
                "verify",
                str(tmp_path / "marked.wav"),
                str(tmp_path / "plain.wav"),
                str(tmp_path / "stem.wav"),
                "--seconds",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert "marked.wav: adr watermark FOUND" in out[0]
    assert "plain.wav: no adr watermark" in out[1]
    assert "stem.wav: adr watermark in" in out[2] and "00:00:0" in out[2]
    marked = [float(ln.split()[0]) for ln in out[3:] if "MARKED" in ln]
    assert marked and 4.0 <= min(marked) and max(marked) <= 9.0  # around 6-9 s only
    assert main(["verify", str(tmp_path / "none.wav")]) == 2


def _test_key(folder: Path) -> C2paKey:
    """A throwaway ES256 certificate chain made by openssl (skips without openssl)."""
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl missing")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-sha256",
        "-days",
        "30",
        "-subj",
        "/CN=adr test CA/O=adr tests",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    )
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ee.key")
    run("pkcs8", "-topk8", "-nocrypt", "-in", "ee.key", "-out", "ee.pk8")
    run("req", "-new", "-key", "ee.key", "-subj", "/CN=adr signer/O=adr post", "-out", "ee.csr")
    (folder / "ee.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,"
        "digitalSignature\nextendedKeyUsage=emailProtection\n"
    )
    run(
        "x509",
        "-req",
        "-in",
        "ee.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        "ee.ext",
        "-out",
        "ee.pem",
    )
    (folder / "chain.pem").write_bytes(
        (folder / "ee.pem").read_bytes() + (folder / "ca.pem").read_bytes()
    )
    return C2paKey(str(folder / "chain.pem"), str(folder / "ee.pk8"))


def test_c2pa_credentials_on_the_deliverables(
    built: Built, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("c2pa")
    from adr.deliver.c2pa_sign import key_from_env, read_credentials

    key = _test_key(tmp_path)
    assert key_from_env({}) is None
    assert key_from_env({"ADR_C2PA_CERT": key.cert, "ADR_C2PA_KEY": key.key}) == key
    with pytest.raises(AdrError, match="ADR_C2PA_KEY: is not set"):
        key_from_env({"ADR_C2PA_CERT": key.cert})
    dst = tmp_path / "reel"
    shutil.copytree(built.session.root, dst)
    s = load_session(dst)
    result = export_session(s, c2pa_key=key)
    prov = provenance("KAL")
    wav = dst / "deliverables" / "adr" / "101.wav"
    creds = read_credentials(wav)
    assert creds["source_type"] == "trainedAlgorithmicMedia"
    assert creds["provenance"] == prov.fields() and creds["common_name"] == "adr signer"
    assert not [c for c in creds["validation"] if "mismatch" in c]  # the file is as signed
    assert read_bext(wav).description.startswith("SYNTHETIC ADR cue 101")  # bext kept
    stem = read_credentials(dst / result.stem)
    assert stem["source_type"] == "compositeWithTrainedAlgorithmicMedia"
    assert stem["provenance"] == {"SYNTHETIC_CUES": "101 102"}
    assert export_session(s, c2pa_key=key).written == ()  # a rerun keeps the signed files
    assert main(["verify", str(wav)]) == 0
    assert "C2PA trainedAlgorithmicMedia signed by adr signer" in capsys.readouterr().out
    assert read_credentials(dst / "renders" / "101.wav") is None


def test_watermark_checkpoint_must_load_weights_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    import torch

    from adr.deliver import watermark

    seen: dict[str, object] = {}

    def refuse(path: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise pickle.UnpicklingError("Weights only load failed: GLOBAL builtins.eval")

    monkeypatch.setattr(watermark, "_NET", None)
    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(AdrError, match="does not load weights-only .* refusing it") as err:
        watermark.embed(np.ones(48000, np.float32) * 0.1, 48000)
    assert err.value.where == str(watermark.checkpoint_path())
    assert seen.get("weights_only") is True
