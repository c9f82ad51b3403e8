"""Tests of annotation.simulation: the calibrated volunteer population and gold bank."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.exam_scoring import score_exam
from annotation.simulation import (
    POPULATION_MIXTURE,
    LearningModel,
    ProtocolParams,
    RaterProfile,
    default_population,
    learn,
    simulate_answers,
    simulate_protocol,
    synthetic_gold_bank,
)
from annotation.standards.humanbeauty import LEAF_INDICES, NUM_DIMENSIONS, OVERALL_INDEX


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


def test_learning_comes_only_from_feedback_and_never_overshoots() -> None:
    d = NUM_DIMENSIONS
    biased = RaterProfile(3, "biased", 0.2, (0.2,) * d, learning_gain=0.5, slope=0.8)
    once = learn(biased)
    assert all(0 < b < 0.2 for b in once.bias) and once.noise_sd < 0.2 and 0.8 < once.slope <= 1.0
    focused = learn(biased, focus=frozenset({0}))
    assert abs(focused.bias[0]) < abs(once.bias[0]) and focused.bias[1] == pytest.approx(once.bias[1])
    trained = biased
    for _ in range(500):
        trained = learn(trained, focus=frozenset(range(d)))
    assert trained.noise_sd == pytest.approx(0.6 * 0.2)  # the noise floor: practice does not remove all noise
    liner = RaterProfile(0, "straight_liner", 0.0, (0.0,) * d, learning_gain=0.5, constant=(0.5,) * d)
    assert learn(liner) is liner
    still = learn(biased, model=LearningModel(bias_rate=0.0, noise_rate=0.0, slope_rate=0.0))
    assert still.bias == biased.bias and still.slope == biased.slope


@settings(max_examples=40, deadline=None)
@given(
    bias=st.lists(st.floats(-0.4, 0.4), min_size=NUM_DIMENSIONS, max_size=NUM_DIMENSIONS),
    gain=st.floats(0.0, 1.0),
    focus=st.sets(st.integers(0, NUM_DIMENSIONS - 1)),
)
def test_learning_shrinks_every_error_toward_zero(bias: list[float], gain: float, focus: set[int]) -> None:
    p = RaterProfile(1, "typical", 0.15, tuple(bias), learning_gain=gain, slope=0.9)
    q = learn(p, focus=frozenset(focus))
    assert all(abs(b2) <= abs(b1) + 1e-12 and b1 * b2 >= 0 for b1, b2 in zip(p.bias, q.bias, strict=True))
    assert 0.6 * 0.15 - 1e-12 <= q.noise_sd <= 0.15 and 0.9 <= q.slope <= 1.0


def test_protocol_simulation_is_consistent_and_stops_the_non_raters() -> None:
    bank = synthetic_gold_bank(n_images=300, seed=0)
    params = ProtocolParams(scoring_days=40)
    result = simulate_protocol(default_population(80, seed=3), bank, params, seed=3)
    json.dumps(result)
    rounds = result["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3] and rounds[0]["entered"] == 80
    for a, b in itertools.pairwise(rounds):
        assert b["entered"] == a["passed"]  # round N+1 is for those who passed round N
    for r in rounds:
        assert sum(r["passed_by_attempt"].values()) == r["passed"]
    assert result["qualified"] == rounds[-1]["passed"]
    assert result["certified"] + result["exited"] == 80
    assert sum(result["exits_by_cause"].values()) == result["exited"]
    assert result["by_kind"]["straight_liner"]["certified"] == 0
    assert result["by_kind"]["random_clicker"]["certified"] == 0
    assert result["retraining"]["items"] > 0 and result["retraining"]["volunteers"] > 0
    same = simulate_protocol(default_population(80, seed=3), bank, params, seed=3)
    assert same == result  # seeded


def test_without_retraining_feedback_fewer_pass_the_retake() -> None:
    """The learning gain is the feedback actually delivered: no learning, fewer second-attempt passes."""
    bank = synthetic_gold_bank(n_images=300, seed=1)
    pop = [p for p in default_population(200, seed=1) if p.kind in ("biased", "noisy")]
    params = ProtocolParams(n_iterations=1, scoring_days=0)
    taught = simulate_protocol(pop, bank, params, seed=1)
    untaught = simulate_protocol(
        pop, bank, params, learning=LearningModel(bias_rate=0.0, noise_rate=0.0, slope_rate=0.0), seed=1
    )
    assert taught["rounds"][0]["passed"] > untaught["rounds"][0]["passed"]
