"""Does a rater skip hidden gold markedly more than pool items? Pure math (no Django).

Design note. A rater who could tell gold from pool items would skip the gold (skipping costs nothing on a
pool item). Two signals, both over *resolved* gold items only (answered, or skipped / reported / "can't
judge" / lease left to expire; the item currently held is pending):

* **rate**: the number of skipped gold items is tested against the rater's own pool skip rate. The pool
  rate is a Laplace estimate ``(s0 + 1) / (n0 + 2)``, so a rater with few pool items is not judged
  against a rate of exactly 0. The one-sided binomial tail ``P[X >= s | n, p0]`` (SciPy) must be small
  *and* the gold skip rate must exceed the pool rate by a margin, so a large sample cannot flag a
  negligible difference;
* **streak**: the most recent resolved gold items were all skipped (no gold answered in a window).

Each signal has a flag level (a warning for admins) and a stricter suspend level; suspension is enforced
by the monitoring service like a failed hidden-gold check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scipy.stats import binom

Status = Literal["ok", "flag", "suspend"]


@dataclass(frozen=True)
class SkipRule:
    margin: float = 0.20  # gold skip rate minus pool skip rate, at least
    flag_min_skips: int = 3
    flag_p: float = 0.01
    suspend_min_skips: int = 6
    suspend_p: float = 1e-4
    flag_streak: int = 5  # the last N resolved gold items all skipped
    suspend_streak: int = 10


@dataclass(frozen=True)
class SkipVerdict:
    status: Status
    gold_skip_rate: float | None
    pool_skip_rate: float
    p_value: float | None
    streak: int
    reason: str


def pool_skip_rate(pool_rated: int, pool_skipped: int) -> float:
    """Laplace estimate of the rater's pool skip rate."""
    if pool_rated < 0 or pool_skipped < 0:
        raise ValueError("counts must be >= 0")
    return (pool_skipped + 1) / (pool_rated + pool_skipped + 2)


def skip_streak(recent_resolved_skipped: list[bool]) -> int:
    """How many of the most recent resolved gold items (oldest first) were skipped in a row."""
    n = 0
    for skipped in reversed(recent_resolved_skipped):
        if not skipped:
            break
        n += 1
    return n


def gold_skip_verdict(
    *,
    gold_answered: int,
    gold_skipped: int,
    pool_rated: int,
    pool_skipped: int,
    streak: int,
    rule: SkipRule | None = None,
) -> SkipVerdict:
    """The verdict for one rater (see the module's design note)."""
    rule = rule or SkipRule()
    if min(gold_answered, gold_skipped, pool_rated, pool_skipped, streak) < 0:
        raise ValueError("counts must be >= 0")
    if streak > gold_skipped:
        raise ValueError("the streak cannot exceed the number of skipped gold items")
    p0 = pool_skip_rate(pool_rated, pool_skipped)
    n = gold_answered + gold_skipped
    rate = gold_skipped / n if n else None
    p_value = float(binom.sf(gold_skipped - 1, n, p0)) if n else None
    excess = (rate or 0.0) - p0

    def verdict(status: Status, reason: str) -> SkipVerdict:
        return SkipVerdict(status, rate, p0, p_value, streak, reason)

    def by_rate(min_skips: int, p_limit: float) -> bool:
        return (
            gold_skipped >= min_skips and excess >= rule.margin and p_value is not None and p_value < p_limit
        )

    described = (
        f"skipped {gold_skipped} of {n} hidden gold items ({100 * (rate or 0):.0f} %) against "
        f"{100 * p0:.0f} % of pool items"
    )
    if streak >= rule.suspend_streak:
        return verdict("suspend", f"answered none of the last {streak} hidden gold items")
    if by_rate(rule.suspend_min_skips, rule.suspend_p):
        return verdict("suspend", f"{described} (p = {p_value:.1e})")
    if streak >= rule.flag_streak:
        return verdict("flag", f"answered none of the last {streak} hidden gold items")
    if by_rate(rule.flag_min_skips, rule.flag_p):
        return verdict("flag", f"{described} (p = {p_value:.1e})")
    return verdict("ok", "")
