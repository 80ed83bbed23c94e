"""bench_oracle's render-time ablations act only inside their block."""

from __future__ import annotations

import numpy as np
import pytest


def _inputs(t: int = 40):
    from adr.voice.restorer import RestorerInputs

    rng = np.random.default_rng(0)
    loud = np.linspace(-60.0, -20.0, t).astype(np.float32)
    return RestorerInputs(
        donor_mel=rng.normal(-5, 1, (80, t)).astype(np.float32),
        take_mel=rng.normal(-5, 1, (80, t)).astype(np.float32),
        reliability=np.linspace(0.0, 1.0, t).astype(np.float32),
        f0=np.full(t, 120.0, np.float32),
        voiced=np.ones(t, np.float32),
        loudness=loud,
    )


def test_mapped_inputs_maps_what_line_inputs_builds_and_restores_it(monkeypatch):
    import adr.voice.speak as speak_mod
    from bench.bench_oracle import INPUT_MAPS, mapped_inputs

    x = _inputs()
    monkeypatch.setattr(speak_mod, "line_inputs", lambda *a, **k: x)
    original = speak_mod.line_inputs
    with mapped_inputs(INPUT_MAPS["noisy, hard reliability"]):
        hard = speak_mod.line_inputs().reliability
    assert speak_mod.line_inputs is original
    np.testing.assert_array_equal(hard, (x.reliability >= 0.5).astype(np.float32))


def test_render_time_maps_raise_reliability_and_borrow_the_donor_loudness():
    from bench.bench_oracle import INPUT_MAPS

    x = _inputs()
    up = INPUT_MAPS["noisy, reliability +3 dB"](x).reliability
    inner = slice(1, -1)  # 0 and 1 stay at the ends
    assert np.all(up[inner] > x.reliability[inner]) and np.all((up >= 0) & (up <= 1))
    y = INPUT_MAPS["noisy, donor loudness where unsure"](x)
    # fully reliable frame: the line's loudness; unreliable frame: the donor's
    assert y.loudness[-1] == pytest.approx(x.loudness[-1], abs=1e-4)
    assert y.loudness[0] != pytest.approx(x.loudness[0], abs=1e-3)
    np.testing.assert_array_equal(y.take_mel, x.take_mel)


def test_full_bench_shards_merge_into_the_whole_run(tmp_path):
    """bench.run --merge: the committed full run cut into two shards (every other line)
    joins back into the same summary."""
    import json
    from pathlib import Path

    from bench.run import merge_shards

    whole = json.loads((Path(__file__).parents[1] / "bench/results/results_full.json").read_text())
    lines = [ln["id"] for ln in whole["lines"]]
    paths = []
    for k in range(2):
        mine = set(lines[k::2])
        part = dict(
            whole,
            lines=[ln for ln in whole["lines"] if ln["id"] in mine],
            rows=[r for r in whole["rows"] if r["line"] in mine],
        )
        paths.append(tmp_path / f"results_full.shard{k + 1}of2.json")
        paths[-1].write_text(json.dumps(part))
    merged = merge_shards(paths)
    assert merged["line_count"] == len(lines) and len(merged["rows"]) == len(whole["rows"])

    def flat(d, path=""):
        for k, v in d.items():
            yield from flat(v, f"{path}/{k}") if isinstance(v, dict) else [(f"{path}/{k}", v)]

    got, want = dict(flat(merged["summary"])), dict(flat(whole["summary"]))
    assert got.keys() == want.keys()
    for key, value in want.items():  # the means' summation order moves the 5th decimal
        assert got[key] == (value if value is None else pytest.approx(value, abs=2e-5)), key
