"""bench_oracle's render-time ablations act only inside their block."""

from __future__ import annotations

import numpy as np
import pytest


def test_mapped_reliability_maps_the_take_reliability_and_restores_it():
    import adr.voice.speak as speak_mod
    from bench.bench_oracle import RELIABILITY_MAPS, mapped_reliability

    sr = 16000
    t = np.arange(sr) / sr
    x = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    original = speak_mod.take_evidence
    _, rel, _ = original(x, sr, 40, denoised=x * 0.9)
    with mapped_reliability(RELIABILITY_MAPS["noisy, hard reliability"]):
        _, hard, _ = speak_mod.take_evidence(x, sr, 40, denoised=x * 0.9)
    assert speak_mod.take_evidence is original
    np.testing.assert_array_equal(hard, (rel >= 0.5).astype(np.float32))
    assert set(np.unique(hard)) <= {0.0, 1.0}


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
