"""Tests of annotation.simulation: the calibrated volunteer population and gold bank."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotation.exam_scoring import PassRule, score_exam
from annotation.simulation import (
    POPULATION_MIXTURE,
    RaterProfile,
    default_population,
    simulate_answers,
    simulate_funnel,
    synthetic_gold_bank,
)
from modeling.standard import LEAF_INDICES, NUM_DIMENSIONS, OVERALL_INDEX


def test_gold_bank_is_spread_and_structured() -> None:
    bank = synthetic_gold_bank(seed=0)
    assert bank.means.shape == (150, NUM_DIMENSIONS) and bank.expert_scores.shape == (5, 150, NUM_DIMENSIONS)
    assert np.all(bank.means.std(axis=0, ddof=1) >= 0.2)
    assert bank.means.min() >= 0 and bank.means.max() <= 1 and np.all(bank.sds >= 0)
    corr = np.corrcoef(bank.means.T)
    assert all(corr[OVERALL_INDEX, k] > 0.2 for k in LEAF_INDICES)  # leaves drive the overall score


def test_population_shares_and_answers() -> None:
    pop = default_population(455, seed=0)
    assert len(pop) == 455 and len({p.rater_id for p in pop}) == 455
    counts = {k: sum(p.kind == k for p in pop) for k in POPULATION_MIXTURE}
    for kind, spec in POPULATION_MIXTURE.items():
        assert abs(counts[kind] - spec.share * 455) <= 1
    gold = synthetic_gold_bank(seed=1).means[:24]
    rng = np.random.default_rng(0)
    for person in pop[:50]:
        r = simulate_answers(person, gold, rng)
        assert r.shape == gold.shape and r.min() >= 0 and r.max() <= 1


def test_straight_liner_and_clicker_fail_careful_passes() -> None:
    gold = synthetic_gold_bank(seed=2).means[:24]
    rng = np.random.default_rng(0)
    d = NUM_DIMENSIONS
    liner = RaterProfile(0, "straight_liner", 0.0, (0.0,) * d, constant=(0.5,) * d)
    clicker = RaterProfile(1, "random_clicker", 0.0, (0.0,) * d)
    careful = RaterProfile(2, "careful", 0.08, (0.01,) * d, learning_gain=0.2)
    assert not score_exam(simulate_answers(liner, gold, rng), gold).passed
    assert not score_exam(simulate_answers(clicker, gold, rng), gold).passed
    assert score_exam(simulate_answers(careful, gold, rng), gold).passed
    trained = RaterProfile(3, "biased", 0.1, (0.2,) * d, learning_gain=0.5).trained()
    assert trained.bias[0] == pytest.approx(0.1) and trained.noise_sd == pytest.approx(0.05)


def test_funnel_lands_near_368_for_the_default_seed() -> None:
    bank = synthetic_gold_bank(seed=0)
    funnel = simulate_funnel(default_population(455, seed=0), bank, PassRule(), seed=0)
    json.dumps(funnel)
    assert 350 <= funnel["certified"] <= 385
    first = funnel["rounds"][0]
    assert first["entered"] == 455 and sum(first["passed_by_attempt"].values()) == funnel["certified"]
    assert first["by_kind"]["straight_liner"]["certified"] == 0
    assert first["by_kind"]["random_clicker"]["certified"] == 0
