"""The gold-skip rule (annotation/gold_skipping.py): pure, property-based."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotation.gold_skipping import SkipRule, gold_skip_verdict, pool_skip_rate, skip_streak

counts = st.integers(min_value=0, max_value=200)


def test_a_rater_who_skips_only_gold_is_flagged_then_suspended() -> None:
    ok = gold_skip_verdict(gold_answered=3, gold_skipped=0, pool_rated=40, pool_skipped=0, streak=0)
    assert ok.status == "ok"
    flag = gold_skip_verdict(gold_answered=0, gold_skipped=3, pool_rated=15, pool_skipped=0, streak=3)
    assert flag.status == "flag" and "skipped 3 of 3" in flag.reason
    suspend = gold_skip_verdict(gold_answered=0, gold_skipped=6, pool_rated=40, pool_skipped=0, streak=6)
    assert suspend.status == "suspend"
    streak = gold_skip_verdict(gold_answered=5, gold_skipped=10, pool_rated=0, pool_skipped=90, streak=10)
    assert streak.status == "suspend" and "none of the last 10" in streak.reason


def test_a_rater_who_skips_everything_alike_is_not_flagged_by_rate() -> None:
    v = gold_skip_verdict(gold_answered=14, gold_skipped=6, pool_rated=140, pool_skipped=60, streak=0)
    assert v.status == "ok" and v.gold_skip_rate == pytest.approx(0.3)


@given(answered=counts, skipped=counts, rated=counts, pool_skipped=counts, data=st.data())
def test_verdict_is_monotone_in_skipped_gold(answered, skipped, rated, pool_skipped, data) -> None:
    """Turning one answered gold item into a skipped one never makes the verdict milder."""
    streak = data.draw(st.integers(min_value=0, max_value=skipped))
    order = {"ok": 0, "flag": 1, "suspend": 2}
    before = gold_skip_verdict(
        gold_answered=answered + 1, gold_skipped=skipped, pool_rated=rated, pool_skipped=pool_skipped,
        streak=streak,
    )  # fmt: skip
    after = gold_skip_verdict(
        gold_answered=answered, gold_skipped=skipped + 1, pool_rated=rated, pool_skipped=pool_skipped,
        streak=streak,
    )  # fmt: skip
    assert order[after.status] >= order[before.status]
    assert 0 < before.pool_skip_rate < 1
    assert before.p_value is not None and 0 <= before.p_value <= 1


@given(skipped=counts, answered=counts, pool_skipped=counts)
def test_no_flag_when_gold_is_skipped_no_more_than_pool(skipped, answered, pool_skipped) -> None:
    """The same skip proportion on gold as on pool (gold rate <= pool estimate) is never flagged by rate."""
    n = skipped + answered
    rule = SkipRule(flag_streak=10**6, suspend_streak=10**6)
    v = gold_skip_verdict(
        gold_answered=answered, gold_skipped=skipped, pool_rated=answered * 10 + 8,
        pool_skipped=skipped * 10 + 2, streak=0, rule=rule,
    )  # fmt: skip
    if n and skipped / n <= v.pool_skip_rate:
        assert v.status == "ok"


@given(st.lists(st.booleans(), max_size=40))
def test_streak_counts_the_trailing_skips(flags) -> None:
    streak = skip_streak(flags)
    assert streak <= len(flags)
    assert all(flags[len(flags) - streak :])
    assert streak == len(flags) or not flags[len(flags) - streak - 1]


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        pool_skip_rate(-1, 0)
    with pytest.raises(ValueError):
        gold_skip_verdict(gold_answered=0, gold_skipped=1, pool_rated=0, pool_skipped=0, streak=2)
