"""Tests of annotation.exam_scoring (pure numpy; run with ``-p no:django``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotation.exam_scoring import (
    ExamForm,
    PassRule,
    draw_exam_form,
    gold_coverage,
    hidden_gold_status,
    score_exam,
)

RULE = PassRule()


def _bank(n: int = 150, d: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(0.05, 0.95, (n, d)), 2)


seeds = st.integers(0, 2**31 - 1)


@given(seeds)
def test_perfect_answers_pass(seed) -> None:
    gold = _bank(24, seed=seed)
    res = score_exam(gold.copy(), gold, rule=RULE)
    assert res.passed and res.reasons == []
    assert res.mae == 0.0 and res.mean_srcc == pytest.approx(1.0) and res.pooled_srcc == pytest.approx(1.0)
    assert all(b == 0.0 for b in res.bias_per_dim) and res.weak_dimensions == []


@given(seeds, st.floats(0.0, 1.0))
def test_constant_answers_fail(seed, level) -> None:
    gold = _bank(24, seed=seed)
    res = score_exam(np.full_like(gold, level), gold, rule=RULE)
    assert not res.passed
    assert res.srcc_per_dim == [0.0] * 12 and res.plcc_per_dim == [0.0] * 12  # not NaN
    assert res.weak_dimensions == list(range(12))
    assert any("rank correlation" in r for r in res.reasons)


@given(seeds, st.floats(RULE.max_abs_bias + 0.01, 0.3), st.booleans())
def test_offset_beyond_bias_limit_fails_on_bias(seed, offset, up) -> None:
    gold = np.round(np.random.default_rng(seed).uniform(0.32, 0.68, (24, 12)), 2)  # room to shift
    shifted = gold + (offset if up else -offset)
    res = score_exam(shifted, gold, rule=RULE)
    assert not res.passed
    assert all(abs(b) > RULE.max_abs_bias for b in res.bias_per_dim)
    assert sum("than the experts" in r for r in res.reasons) == 12
    assert res.mean_srcc == pytest.approx(1.0)


@given(seeds, st.randoms(use_true_random=False))
def test_metrics_invariant_to_item_order(seed, rnd) -> None:
    rng = np.random.default_rng(seed)
    gold = _bank(24, seed=seed)
    resp = np.round(np.clip(gold + rng.normal(0, 0.15, gold.shape), 0, 1), 2)
    resp[rng.random(resp.shape) < 0.05] = np.nan
    perm = np.array(rnd.sample(range(24), 24))
    a = score_exam(resp, gold, rule=RULE, gold_sd=np.full_like(gold, 0.1)).to_dict()
    b = score_exam(resp[perm], gold[perm], rule=RULE, gold_sd=np.full_like(gold, 0.1)).to_dict()
    for key, val in a.items():
        if isinstance(val, float) or (isinstance(val, list) and val and isinstance(val[0], float)):
            assert b[key] == pytest.approx(val, abs=1e-12)
        else:
            assert b[key] == val


def test_typical_rater_passes_and_noisy_rater_fails_with_reasons() -> None:
    rng = np.random.default_rng(1)
    gold = _bank(24, seed=1)
    good = np.round(np.clip(gold + rng.normal(0, 0.12, gold.shape), 0, 1), 2)
    bad = np.round(np.clip(gold + rng.normal(0, 0.35, gold.shape), 0, 1), 2)
    ok = score_exam(good, gold, rule=RULE, gold_sd=np.full_like(gold, 0.02))
    assert ok.passed and ok.normalised_error == pytest.approx(ok.mae / 0.05)
    fail = score_exam(bad, gold, rule=RULE)
    assert not fail.passed and any("absolute error" in r for r in fail.reasons)
    payload = fail.to_dict()
    json.dumps(payload, allow_nan=False)
    assert payload["normalised_error"] is None and payload["dimension_keys"][0] == "facial_brightness"
    assert payload["weak_dimension_keys"] == [
        payload["dimension_keys"][i] for i in payload["weak_dimensions"]
    ]


def test_score_exam_validation() -> None:
    gold = _bank(24)
    with pytest.raises(ValueError, match="same shape"):
        score_exam(gold[:10], gold)
    with pytest.raises(ValueError, match="out of range"):
        score_exam(gold + 1.0, gold)
    with pytest.raises(ValueError, match="all NaN"):
        score_exam(np.full_like(gold, np.nan), gold)


# ---------------------------------------------------------------------------- forms


def _thirds_covered(gold: np.ndarray, items: list[int]) -> bool:
    cuts = np.quantile(gold, [1 / 3, 2 / 3], axis=0)
    cells = (gold[items] > cuts[0]).astype(int) + (gold[items] > cuts[1]).astype(int)
    return all(set(cells[:, k].tolist()) == {0, 1, 2} for k in range(gold.shape[1]))


@given(seeds, st.sets(st.integers(0, 149), max_size=60))
def test_form_is_deterministic_disjoint_and_stratified(seed, exclude) -> None:
    gold = _bank(150, seed=seed % 1000)
    f1 = draw_exam_form(gold, rng=seed, exclude=frozenset(exclude))
    f2 = draw_exam_form(gold, rng=np.random.default_rng(seed), exclude=frozenset(exclude))
    assert f1 == f2 and isinstance(f1, ExamForm)
    items = f1.scored + f1.warmup
    assert len(f1.scored) == 24 and len(f1.warmup) == 3 and len(set(items)) == 27
    assert not set(items) & set(exclude)
    assert _thirds_covered(gold, f1.scored)


def test_form_counts_are_balanced_on_a_correlated_bank() -> None:
    from annotation.simulation import synthetic_gold_bank

    gold = synthetic_gold_bank(seed=0).means
    form = draw_exam_form(gold, rng=0)
    cuts = np.quantile(gold, [1 / 3, 2 / 3], axis=0)
    cells = (gold[form.scored] > cuts[0]).astype(int) + (gold[form.scored] > cuts[1]).astype(int)
    counts = np.stack([np.bincount(cells[:, k], minlength=3) for k in range(12)])
    assert counts.min() >= 4  # every dimension's thirds are well covered, not just touched


def test_form_reuses_excluded_only_when_needed_and_rejects_tiny_banks() -> None:
    gold = _bank(30)
    exclude = frozenset(range(20))  # only 10 fresh items left
    form = draw_exam_form(gold, rng=3, exclude=exclude)
    items = form.scored + form.warmup
    assert set(range(20, 30)) <= set(items) and len(set(items)) == 27
    with pytest.raises(ValueError, match="gold bank too small"):
        draw_exam_form(_bank(26), rng=0)
    with pytest.raises(ValueError, match="outside the bank"):
        draw_exam_form(gold, rng=0, exclude=frozenset({99}))


def test_gold_coverage() -> None:
    gold = _bank(150)
    gold[:, 3] = 0.5  # a degenerate dimension
    cov = gold_coverage(gold, bins=5)
    json.dumps(cov, allow_nan=False)
    assert cov["n_items"] == 150 and len(cov["bin_edges"]) == 6 and len(cov["dimensions"]) == 12
    assert all(sum(d["counts"]) == 150 for d in cov["dimensions"])
    assert cov["dimensions"][0]["sd_ok"] and not cov["dimensions"][3]["sd_ok"]
    assert cov["dimensions"][3]["counts"] == [0, 0, 150, 0, 0]


# ---------------------------------------------------------------------------- hidden gold


@pytest.mark.parametrize(
    ("errors", "status"),
    [
        ([], "ok"),
        ([0.9] * 4, "ok"),  # fewer than min_answers
        ([0.10] * 10, "ok"),
        ([0.19] * 10, "ok"),  # == max_mae + warn_margin is not above it
        ([0.20] * 10, "warn"),
        ([0.23] * 10, "suspend"),
        ([0.9] * 20 + [0.1] * 10, "ok"),  # only the last window counts
        ([0.1] * 5 + [0.3] * 5, "warn"),  # rolling mean 0.20
        ([0.1] * 5 + [0.35] * 5, "suspend"),  # rolling mean 0.225 > 0.17 + 0.05
    ],
)
def test_hidden_gold_status(errors, status) -> None:
    assert hidden_gold_status(errors, rule=RULE) == status


def test_hidden_gold_status_validation() -> None:
    with pytest.raises(ValueError, match="finite"):
        hidden_gold_status([0.1, float("nan")] * 5)
