"""Tests of voice files: exact round trip, strict refusal of bad files, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_voice import TINY_SIZES

from adr.core.errors import AdrError
from adr.core.types import Phone, Prosody
from adr.voice.features import frame_features
from adr.voice.voice_model import VoiceConfig, VoiceModel
from adr.voice.voicefile import (
    MODEL_FILE,
    VOICE_FILE,
    EnrollmentRecord,
    SourceFile,
    load_voice,
    save_voice,
    sha256_file,
)

CFG = VoiceConfig(phone_inventory=("sil", "spn", "a"), **TINY_SIZES, reverb_seconds=0.005)
RECORD = EnrollmentRecord(
    actor="maya",
    sources=(SourceFile("takes/a.wav", "0" * 64, 12.5),),
    minutes=0.2,
    date="2026-11-22T08:00:00Z",
    preset="fast",
    steps=3,
    train_seconds=1.5,
    metrics={"speaker_similarity": 0.9},
)


def _model() -> VoiceModel:
    torch.manual_seed(3)
    model = VoiceModel(CFG)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model.eval()


def _features():
    pros = Prosody(
        0.0, 0.01, np.full(60, 140.0, np.float32), np.ones(60, bool), np.full(60, -25.0, np.float32)
    )
    return frame_features(
        [Phone("a", 0.1, 0.4)],
        pros,
        None,
        start=0.0,
        end=0.5,
        frame_period=CFG.frame_period,
        phone_inventory=CFG.phone_inventory,
    )


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, VoiceModel]:
    model = _model()
    return save_voice(tmp_path / "voice", model, CFG, RECORD), model


def test_round_trip_renders_bit_identically(saved: tuple[Path, VoiceModel]) -> None:
    folder, model = saved
    loaded = load_voice(folder)
    assert loaded.config == CFG and loaded.record == RECORD
    assert not loaded.model.training
    feats = _features()
    assert np.array_equal(model.render(feats), loaded.model.render(feats))
    assert EnrollmentRecord.from_dict(json.loads(json.dumps(RECORD.to_dict()))) == RECORD


def test_no_pickle_in_voice_files(saved: tuple[Path, VoiceModel]) -> None:
    folder, _ = saved
    assert sorted(p.name for p in folder.iterdir()) == [MODEL_FILE, VOICE_FILE]
    data = (folder / MODEL_FILE).read_bytes()
    assert not data.startswith(b"\x80") and not data.startswith(b"PK")  # pickle / torch zip
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    assert header["__metadata__"]["format"] == "adr-voice"
    json.loads((folder / VOICE_FILE).read_text())


def _edit_json(folder: Path, fn) -> None:
    meta = json.loads((folder / VOICE_FILE).read_text())
    fn(meta)
    (folder / VOICE_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(format_version=99),
        lambda m: m["config"].update(hidden=32),
        lambda m: m["config"].update(n_harmonics=9),
        lambda m: m["config"].update(unknown_field=1),
        lambda m: m["record"].pop("actor"),
        lambda m: m.update(extra=1),
    ],
)
def test_mismatched_json_is_refused(saved: tuple[Path, VoiceModel], edit) -> None:
    folder, _ = saved
    _edit_json(folder, edit)
    with pytest.raises(AdrError) as err:
        load_voice(folder)
    assert VOICE_FILE in str(err.value) or MODEL_FILE in str(err.value)


def test_tensor_mismatch_is_refused(saved: tuple[Path, VoiceModel]) -> None:
    from safetensors.torch import load_file, save_file

    folder, _ = saved
    tensors = load_file(str(folder / MODEL_FILE))
    for change in ("drop", "extra", "shape"):
        t = dict(tensors)
        name = sorted(t)[0]
        if change == "drop":
            del t[name]
        elif change == "extra":
            t["bogus.weight"] = torch.zeros(2)
        else:
            t[name] = torch.zeros(*t[name].shape, 2)
        save_file(t, str(folder / MODEL_FILE))
        _edit_json(folder, lambda m: m.update(model_sha256=sha256_file(folder / MODEL_FILE)))
        with pytest.raises(AdrError, match=MODEL_FILE):
            load_voice(folder)


def test_corrupt_files_are_refused(saved: tuple[Path, VoiceModel], tmp_path: Path) -> None:
    folder, _ = saved
    good = (folder / MODEL_FILE).read_bytes()
    (folder / MODEL_FILE).write_bytes(good[:-100])
    with pytest.raises(AdrError, match=MODEL_FILE):
        load_voice(folder)  # checksum
    _edit_json(folder, lambda m: m.pop("model_sha256"))
    with pytest.raises(AdrError, match=MODEL_FILE):
        load_voice(folder)  # truncated safetensors
    (folder / MODEL_FILE).write_bytes(b"\x80\x04garbage that is not safetensors")
    with pytest.raises(AdrError, match=MODEL_FILE):
        load_voice(folder)
    (folder / VOICE_FILE).write_text("{not json")
    with pytest.raises(AdrError, match=VOICE_FILE):
        load_voice(folder)
    with pytest.raises(AdrError, match=VOICE_FILE):
        load_voice(tmp_path / "nowhere")
    (folder / VOICE_FILE).unlink()
    with pytest.raises(AdrError):
        load_voice(folder)


def test_save_refuses_config_mismatch(tmp_path: Path) -> None:
    other = VoiceConfig.from_dict({**CFG.to_dict(), "hidden": 8})
    with pytest.raises(ValueError):
        save_voice(tmp_path, _model(), other, RECORD)
