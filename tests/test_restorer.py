"""The speech restorer: config, model, evidence, damage, vocoder, training and voice files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from adr.analysis.phonemes import PHONES
from adr.core.errors import AdrError
from adr.core.types import Prosody
from adr.voice.damage_sim import coloured_noise, damage_line, hum
from adr.voice.evidence import active_level_db, controls_on_grid, line_frames, take_evidence
from adr.voice.restorer import Restorer, RestorerConfig, RestorerInputs
from adr.voice.train_restorer import RestorerExample, RestorerTrainConfig, train_restorer
from adr.voice.vocoder import MEL, log_mel, mel_frames
from adr.voice.voice_model import VoiceConfig
from adr.voice.voicefile import (
    RESTORER_FILE,
    VOICE_FILE,
    EnrollmentRecord,
    load_voice,
    save_voice,
)

TINY = RestorerConfig(hidden=8, layers=2, kernel_size=3)
STEPS = RestorerTrainConfig(
    steps=4, batch_size=2, crop_frames=16, warmup_steps=1, checkpoint_every=2, damaged_copies=0
)


def _inputs(rng: np.random.Generator, t: int = 40) -> RestorerInputs:
    return RestorerInputs(
        rng.normal(-5, 2, (80, t)).astype(np.float32),
        rng.normal(-5, 2, (80, t)).astype(np.float32),
        rng.uniform(0, 1, t).astype(np.float32),
        np.full(t, 120.0, np.float32),
        np.ones(t, np.float32),
        rng.normal(-30, 5, t).astype(np.float32),
    )


def _examples(rng: np.random.Generator) -> list[RestorerExample]:
    out = []
    for t in (40, 30, 12):
        x = _inputs(rng, t)
        out.append(RestorerExample(x, (0.5 * x.donor_mel - 3.0).astype(np.float32)))
    return out


def test_config_round_trip_and_strictness() -> None:
    assert RestorerConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match="unknown field"):
        RestorerConfig.from_dict({**TINY.to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="format_version"):
        RestorerConfig.from_dict({**TINY.to_dict(), "format_version": 99})
    assert RestorerTrainConfig.from_dict(STEPS.to_dict()) == STEPS


def test_model_maps_inputs_to_mel_frames(rng: np.random.Generator) -> None:
    model = Restorer(TINY).eval()
    x = _inputs(rng, 37)
    assert x.tensor(TINY).shape == (TINY.in_channels, 37)
    mel = model.restore(x)
    assert mel.shape == (80, 37) and np.all(np.isfinite(mel))
    donor_only = dataclasses.replace(TINY, use_take=False)
    assert x.tensor(donor_only).shape == (80 + 4, 37)
    with pytest.raises(ValueError, match="frames"):
        RestorerInputs(x.donor_mel, x.take_mel[:, :5], x.reliability, x.f0, x.voiced, x.loudness)


def test_noisy_mel_input_is_optional_and_keeps_older_configs(rng: np.random.Generator) -> None:
    """``use_noisy`` adds the undenoised mel as 80 more channels; configs without it write
    the dict older voices wrote (their files, keys and checkpoints stay valid)."""
    assert "use_noisy" not in TINY.to_dict()
    noisy_cfg = dataclasses.replace(TINY, use_noisy=True)
    assert RestorerConfig.from_dict(noisy_cfg.to_dict()) == noisy_cfg
    x = _inputs(rng, 21)
    assert x.tensor(noisy_cfg).shape == (noisy_cfg.in_channels, 21) == (3 * 80 + 4, 21)
    loud = rng.normal(-3, 2, (80, 21)).astype(np.float32)
    with_noisy = dataclasses.replace(x, noisy_mel=loud)
    a, b = x.tensor(noisy_cfg).numpy(), with_noisy.tensor(noisy_cfg).numpy()
    np.testing.assert_array_equal(a[:160], b[:160])  # donor and take unchanged
    assert not np.allclose(a[160:240], b[160:240])  # the noisy mel is what differs
    assert with_noisy.crop(3, 5).noisy_mel.shape == (80, 5)
    mel = Restorer(noisy_cfg).eval().restore(with_noisy)
    assert mel.shape == (80, 21) and np.all(np.isfinite(mel))


def test_residual_restorer_starts_from_the_take_where_reliable_and_the_donor_elsewhere(
    rng: np.random.Generator,
) -> None:
    """An untrained residual restorer gives back the take on reliable frames and the
    script's donor on frames the take lost; the flag is absent from older configs."""
    cfg = dataclasses.replace(TINY, residual=True)
    assert RestorerConfig().residual and RestorerConfig.from_dict(cfg.to_dict()) == cfg
    older = {k: v for k, v in cfg.to_dict().items() if k != "residual"}  # before the flag
    assert not RestorerConfig.from_dict(older).residual
    assert "residual" not in dataclasses.replace(cfg, residual=False).to_dict()
    x = _inputs(rng, 24)
    rel = np.zeros(24, np.float32)
    rel[12:] = 1.0
    x = dataclasses.replace(x, reliability=rel)
    mel = Restorer(cfg).eval().restore(x)
    np.testing.assert_allclose(mel[:, :12], x.donor_mel[:, :12], atol=1e-4)
    np.testing.assert_allclose(mel[:, 12:], x.take_mel[:, 12:], atol=1e-4)
    donor_only = Restorer(dataclasses.replace(cfg, use_take=False)).eval().restore(x)
    np.testing.assert_allclose(donor_only, x.donor_mel, atol=1e-4)


def test_take_dropout_trains_on_lines_without_their_take(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    """With ``take_dropout`` some crops withhold the take (as a line rendered without
    audio); configs without it keep the training dict older voices wrote."""
    assert "take_dropout" not in STEPS.to_dict()
    x = _inputs(rng, 12)
    bare = x.without_take()
    assert not bare.reliability.any() and np.all(bare.take_mel == MEL.log_floor)
    np.testing.assert_array_equal(bare.donor_mel, x.donor_mel)
    with pytest.raises(ValueError, match="take_dropout"):
        dataclasses.replace(STEPS, take_dropout=1.0)
    tc = dataclasses.replace(STEPS, take_dropout=0.5)
    assert RestorerTrainConfig.from_dict(tc.to_dict()) == tc
    model = train_restorer(_examples(rng), TINY, tc, tmp_path / "drop")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_training_lowers_the_loss_and_resumes_identically(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    examples = _examples(rng)
    losses: list[float] = []
    cfg = dataclasses.replace(STEPS, steps=60, checkpoint_every=30, learning_rate=1e-2)
    train_restorer(
        examples, TINY, cfg, tmp_path / "a", progress=lambda ev: losses.append(ev.info["loss"])
    )
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    # interrupted after the step-2 checkpoint, then resumed: the same weights as one run
    full = train_restorer(examples, TINY, STEPS, tmp_path / "full")

    def interrupt(ev) -> None:
        if ev.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_restorer(examples, TINY, STEPS, tmp_path / "part", progress=interrupt)
    assert json.loads((tmp_path / "part" / "latest.json").read_text())["step"] == 2
    resumed = train_restorer(examples, TINY, STEPS, tmp_path / "part")
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), k
    with pytest.raises(AdrError, match="other settings"):
        train_restorer(examples, TINY, dataclasses.replace(STEPS, steps=6), tmp_path / "part")


def test_voice_file_with_restorer_round_trip(rng: np.random.Generator, tmp_path: Path) -> None:
    model = Restorer(TINY).eval()
    vc = VoiceConfig(phone_inventory=PHONES)
    record = EnrollmentRecord(actor="MAYA")
    save_voice(tmp_path / "MAYA", None, vc, record, model)
    voice = load_voice(tmp_path / "MAYA")
    assert voice.model is None and voice.restorer is not None
    assert voice.restorer.config == TINY and not voice.restorer.training
    x = _inputs(rng)
    assert np.array_equal(model.restore(x), voice.restorer.restore(x))
    # a replaced restorer file is refused by its hash, naming the file
    path = tmp_path / "MAYA" / RESTORER_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(AdrError, match="checksum") as err:
        load_voice(tmp_path / "MAYA")
    assert RESTORER_FILE in err.value.where


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from adr.voice.voicefile import sha256_file

    model = Restorer(TINY).eval()
    vc = VoiceConfig(phone_inventory=PHONES)
    with torch.no_grad():
        model.out.bias[0] = float("nan")
    with pytest.raises(AdrError, match="NaN"):
        save_voice(tmp_path / "A", None, vc, EnrollmentRecord(actor="A"), model)
    # a diverged file written by something else (hash valid) is refused at load
    good = Restorer(TINY).eval()
    save_voice(tmp_path / "B", None, vc, EnrollmentRecord(actor="B"), good)
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp_path / "B" / RESTORER_FILE))
    meta = json.loads((tmp_path / "B" / VOICE_FILE).read_text())
    meta["restorer"]["sha256"] = sha256_file(tmp_path / "B" / RESTORER_FILE)
    (tmp_path / "B" / VOICE_FILE).write_text(json.dumps(meta))
    with pytest.raises(AdrError, match="NaN or infinite"):
        load_voice(tmp_path / "B")


def test_mel_grid_and_vocoder_lengths() -> None:
    from adr.voice.vocoder import load_vocoder

    t = np.arange(22050) / 22050
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    mel = log_mel(x)
    assert mel.shape == (80, mel_frames(len(x))) == (80, len(x) // MEL.hop)
    band = int(np.argmax(mel.numpy().mean(axis=1)))
    assert 3 <= band <= 12  # 220 Hz lands in the low mel bands
    y = load_vocoder()(mel[:, :20])
    assert y.shape == (20 * MEL.hop,) and np.all(np.isfinite(y))


def test_damage_hits_the_drawn_snr_and_is_seeded(rng: np.random.Generator) -> None:
    sr = 16000
    t = np.arange(2 * sr) / sr
    clean = (0.2 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    a, snr_a = damage_line(clean, sr, np.random.default_rng(3))
    b, snr_b = damage_line(clean, sr, np.random.default_rng(3))
    assert np.array_equal(a, b) and snr_a == snr_b and -10 <= snr_a <= 20
    assert a.shape == clean.shape and np.max(np.abs(a)) <= 0.99 + 1e-6
    pink = coloured_noise(sr, sr, -3.0, rng)
    spec = np.abs(np.fft.rfft(pink)) ** 2
    assert spec[100:200].mean() > spec[5000:6000].mean()  # falls with frequency
    h = hum(sr, sr, rng)
    peak_hz = np.argmax(np.abs(np.fft.rfft(h))) * sr / len(h)
    assert min(abs(peak_hz - 50), abs(peak_hz - 60)) < 2


def test_reliability_tracks_local_snr(rng: np.random.Generator) -> None:
    """Clean speech-like tone: reliable; the same span drowned in noise: not."""
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = (0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    n = line_frames(2.0)
    noise = 0.3 * rng.standard_normal(2 * sr).astype(np.float32)
    _, rel_clean, _ = take_evidence(tone, sr, n, denoised=tone * 0.999)
    _, rel_noisy, _ = take_evidence(tone + noise, sr, n, denoised=tone)
    assert rel_clean.shape == (n,) and rel_clean.mean() > 0.9
    assert rel_noisy.mean() < 0.3
    assert abs(active_level_db(tone, sr) - 20 * np.log10(0.2 / np.sqrt(2))) < 0.5


def test_controls_on_the_mel_grid() -> None:
    f0 = np.array([0, 100, 110, 0, 0, 130, 0], dtype=np.float32)
    p = Prosody(1.0, 0.01, f0, f0 > 0, np.linspace(-40, -20, 7).astype(np.float32))
    n = 6
    hz, voiced, energy = controls_on_grid(p, 1.0, n)
    assert hz.shape == voiced.shape == energy.shape == (n,)
    assert np.all((hz >= 100) & (hz <= 130))  # interpolated through unvoiced frames


def test_takes_and_targets_share_the_reference_gain(rng: np.random.Generator) -> None:
    """Training targets and render takes are scaled by one rule: active level to the
    reference, silence left alone (no +60 dB on a noise floor)."""
    from adr.voice.evidence import REFERENCE_LEVEL_DB, reference_gain_db

    sr = 16000
    tone = (0.01 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)).astype(np.float32)
    g = reference_gain_db(tone, sr)
    assert abs(active_level_db(tone * np.float32(10 ** (g / 20)), sr) - REFERENCE_LEVEL_DB) < 0.1
    assert reference_gain_db(np.zeros(sr, np.float32), sr) == 0.0
    _, _, gain = take_evidence(tone, sr, 20, denoised=tone)
    assert gain == pytest.approx(g)


def test_base_restorer_round_trip_and_fine_tune_start(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A saved base loads strictly, and a restorer trained from it starts from its weights;
    a base of another architecture or with damaged weights is refused naming the file."""
    from safetensors.torch import load_file, save_file

    from adr.voice.base_restorer import load_base, save_base

    model = Restorer(TINY)
    weights, described = save_base(
        tmp_path / "base", model, training={"steps": 0}, data={"speakers": {}}
    )
    base = load_base(tmp_path / "base")
    assert base.config.hidden == TINY.hidden and base.info["training"] == {"steps": 0}
    for k, v in model.state_dict().items():  # stored as float16
        torch.testing.assert_close(base.state[k], v, atol=1e-3, rtol=1e-3)
    # zero steps of fine-tuning would be the base itself: one step moves off it, not far
    tc = dataclasses.replace(STEPS, steps=1, base=str(tmp_path / "base"))
    assert RestorerTrainConfig.from_dict(tc.to_dict()) == tc and "base" not in STEPS.to_dict()
    tuned = train_restorer(_examples(rng), TINY, tc, tmp_path / "work")
    w0, w1 = model.inp.weight.detach(), tuned.inp.weight.detach()
    assert 0 < float((w0 - w1).abs().max()) < 0.1
    wide = dataclasses.replace(TINY, hidden=12)
    with pytest.raises(AdrError, match="architecture"):
        train_restorer(_examples(rng), wide, dataclasses.replace(tc, steps=1), tmp_path / "work2")
    state = load_file(str(weights))
    state["inp.weight"] = state["inp.weight"] * float("nan")
    save_file(state, str(weights))
    with pytest.raises(AdrError, match="not finite"):
        load_base(tmp_path / "base")
    described.write_text('{"format_version": 9}')
    with pytest.raises(AdrError, match="base.json"):
        load_base(tmp_path / "base")


def test_presets_start_from_the_shipped_base() -> None:
    """The shipped base loads strictly and fits the default restorer; a preset fine-tunes
    it, unless the enrollment's config has another architecture."""
    from adr.voice.base_restorer import SHIPPED_BASE, load_base, same_architecture
    from adr.voice.enroll_restorer import restorer_configs

    base = load_base(SHIPPED_BASE)
    assert same_architecture(base.config, RestorerConfig())
    assert base.info["data"]["speakers"] and base.info["data"]["licences"]
    rc, tc = restorer_configs("restorer", "fast", None, None)
    assert rc == RestorerConfig() and tc is not None and tc.base == SHIPPED_BASE
    rc, tc = restorer_configs("restorer", "fast", TINY, None)
    assert rc == TINY and tc is not None and tc.base == ""
    assert restorer_configs("restorer", "fast", TINY, STEPS) == (TINY, STEPS)


def test_take_level_survives_a_denoiser_that_removed_the_speech(rng: np.random.Generator) -> None:
    """A -5 dB line whose denoiser removed nearly everything: the take is delivered no more
    than SPEECH_BELOW_LINE_DB under the line (it was 38 dB under the speech on LJ001-0011);
    a well denoised line keeps its own level; a silent line stays silent."""
    from adr.voice.evidence import SPEECH_BELOW_LINE_DB, active_level_db, speech_level_db

    sr = 16000
    speech = (0.05 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)).astype(np.float32)
    noisy = speech + (0.1 * rng.standard_normal(sr)).astype(np.float32)
    line = active_level_db(noisy, sr)
    assert speech_level_db(noisy, noisy * 1e-3, sr) == pytest.approx(line - SPEECH_BELOW_LINE_DB)
    assert speech_level_db(noisy, speech, sr) == pytest.approx(active_level_db(speech, sr))
    assert speech_level_db(noisy * 2, noisy * 4, sr) == pytest.approx(
        active_level_db(noisy * 2, sr)
    )
    assert speech_level_db(np.zeros(sr), np.zeros(sr), sr) == -120.0


def test_ungated_take_is_read_whole_and_the_prior_still_mixes(rng: np.random.Generator) -> None:
    """``take_gated=False``: the network reads the denoised take whole beside its
    reliability (not the take times the reliability), the untrained residual restorer still
    starts from ``r * take + (1 - r) * donor``, and older configs (no key) stay gated."""
    gated = dataclasses.replace(TINY, residual=True)
    ungated = dataclasses.replace(gated, take_gated=False)
    assert (
        "take_gated" not in gated.to_dict() and RestorerConfig.from_dict(gated.to_dict()).take_gated
    )
    assert RestorerConfig.from_dict(ungated.to_dict()) == ungated
    x = _inputs(rng, 24)
    rel = np.linspace(0.0, 1.0, 24).astype(np.float32)
    x = dataclasses.replace(x, reliability=rel)
    a, b = x.tensor(gated).numpy(), x.tensor(ungated).numpy()
    take = (x.take_mel - (-5.0)) / 3.0
    np.testing.assert_allclose(b[80:160], take, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a[80:160], rel * take, rtol=1e-5, atol=1e-5)
    mel = Restorer(ungated).eval().restore(x)
    np.testing.assert_allclose(mel, rel * x.take_mel + (1 - rel) * x.donor_mel, atol=1e-4)
