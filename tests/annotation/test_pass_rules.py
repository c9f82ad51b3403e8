"""Pass rules as objects (annotation.pass_rules): each kind validates its threshold, evaluates exam metrics
into the reasons volunteers read, and describes itself; the rule set scores exams exactly as before."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotation.exam_scoring import score_exam
from annotation.pass_rules import PASS_RULES, ExamMetrics, MaxAbsBias, MaxMae, MinMeanSrcc, PassRule, rule_for

KEYS = ["a", "b", "c"]


def _metrics(mae: float = 0.1, srcc: float = 0.8, bias: tuple[float, ...] = (0.0, 0.0, 0.0)) -> ExamMetrics:
    return ExamMetrics(mae=mae, mean_srcc=srcc, bias_per_dim=list(bias), dimension_keys=KEYS)


def test_the_registry_names_every_kind_by_its_protocol_field() -> None:
    assert list(PASS_RULES) == ["max_mae", "min_mean_srcc", "max_abs_bias"]
    assert isinstance(rule_for("max_mae", 0.2), MaxMae)
    with pytest.raises(KeyError, match="unknown pass rule 'mae_max': one of max_mae"):
        rule_for("mae_max", 0.2)


def test_max_mae() -> None:
    rule = MaxMae(0.17)
    assert rule.validate() == []
    assert rule.evaluate(_metrics(mae=0.17)) == []  # the limit itself passes
    assert rule.evaluate(_metrics(mae=0.2)) == ["mean absolute error 0.200 is above the limit 0.17"]
    assert rule.evaluate(_metrics(mae=math.nan)) != []  # nothing to measure never passes
    assert rule.description() == "mean absolute error against the experts ≤ 0.17"
    assert MaxMae(1.5).validate() == [
        "Max MAE must be between 0 and 1 (got 1.5); it is the largest mean absolute error, on the 0–1 scale, "
        "that still passes."
    ]
    assert MaxMae(-0.1).validate() and MaxMae(math.inf).validate() == ["Max MAE must be a finite number."]


def test_min_mean_srcc() -> None:
    rule = MinMeanSrcc(0.6)
    assert rule.evaluate(_metrics(srcc=0.6)) == []
    assert rule.evaluate(_metrics(srcc=0.41)) == [
        "mean rank correlation with the experts 0.41 is below the minimum 0.60"
    ]
    assert MinMeanSrcc(-0.5).validate() == []  # a correlation may be negative
    assert "between -1 and 1 (got 1.2)" in MinMeanSrcc(1.2).validate()[0]
    assert MinMeanSrcc(True).validate() == ["Min mean SRCC must be a number."]  # type: ignore[arg-type]
    assert "averaged over dimensions, ≥ 0.60" in rule.description()


def test_max_abs_bias_names_each_dimension_and_its_direction() -> None:
    rule = MaxAbsBias(0.15)
    assert rule.evaluate(_metrics(bias=(0.15, -0.15, math.nan))) == []  # NaN: a dimension nobody could judge
    assert rule.evaluate(_metrics(bias=(0.2, 0.0, -0.31))) == [
        "a: scores are on average 0.20 higher than the experts (limit 0.15)",
        "c: scores are on average 0.31 lower than the experts (limit 0.15)",
    ]
    assert rule.description() == "on every dimension, the mean signed error (bias) is at most ±0.15"
    assert MaxAbsBias(2).validate()[0].startswith("Max |bias| per dimension must be between 0 and 1 (got 2)")


def test_the_rule_set_validates_evaluates_and_describes_every_rule() -> None:
    rules = PassRule(max_mae=0.1, min_mean_srcc=0.7, max_abs_bias=0.05)
    assert [r.kind for r in rules.rules()] == list(PASS_RULES)
    assert rules.validate() == {}
    assert PassRule(max_mae=3, min_mean_srcc=-2).validate().keys() == {"max_mae", "min_mean_srcc"}
    reasons = rules.evaluate(_metrics(mae=0.2, srcc=0.5, bias=(0.1, 0, 0)))
    assert [r.split(" ")[0] for r in reasons] == ["mean", "mean", "a:"]
    assert len(rules.descriptions()) == 3


def test_score_exam_fails_with_the_rules_reasons_in_order() -> None:
    rng = np.random.default_rng(0)
    gold = rng.uniform(0.2, 0.8, size=(24, 12))
    biased = np.clip(gold + 0.25, 0, 1)
    rule = PassRule()
    result = score_exam(biased, gold, rule=rule)
    assert not result.passed
    expected = rule.evaluate(
        ExamMetrics(
            mae=result.mae,
            mean_srcc=result.mean_srcc,
            bias_per_dim=result.bias_per_dim,
            dimension_keys=result.dimension_keys,
        )
    )
    assert result.reasons == expected and result.reasons[0].startswith("mean absolute error")
    assert score_exam(gold, gold, rule=rule).passed
