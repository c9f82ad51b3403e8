"""Pure rules of targeted retraining after a failed exam (numpy only, no Django).

Design: a failed exam names what went wrong per dimension, so the retraining shows gold images chosen
*for those dimensions*:

* :func:`retraining_focus` — the failed dimensions, worst first: every dimension whose |bias| is over the
  limit, whose SRCC is under the mean-SRCC minimum (when that criterion failed) or under the "weak"
  threshold, and, when the MAE criterion failed, every dimension whose own MAE is over the limit. If the
  exam failed but no single dimension stands out, the three dimensions with the largest MAE.
* :func:`pick_retraining_items` — slot ``i`` teaches focus dimension ``focus[i % len(focus)]``; successive
  slots of one dimension take its low, high, then middle third of the bank (by the bank's tertiles), so the
  volunteer sees the range of that dimension with the experts' scores and rationale. Items the volunteer
  has seen are never used; if a third has no fresh item, the nearest third that has one is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["pick_retraining_items", "retraining_focus"]

_THIRD_ORDER = (0, 2, 1)  # low, high, middle


def retraining_focus(
    result: dict[str, Any],
    *,
    keys: Sequence[str],
    max_mae: float,
    min_mean_srcc: float,
    max_abs_bias: float,
    weak_srcc: float = 0.3,
) -> list[str]:
    """Dimension keys to retrain, worst first, from a scored exam's ``ExamResult.to_dict()``."""
    n = len(keys)
    bias = [abs(b) if b is not None else 0.0 for b in (result.get("bias_per_dim") or [0.0] * n)]
    srcc = [s if s is not None else 0.0 for s in (result.get("srcc_per_dim") or [1.0] * n)]
    mae_d = [m if m is not None else 0.0 for m in (result.get("mae_per_dim") or [0.0] * n)]
    mae = result.get("mae") or 0.0
    mean_srcc = result.get("mean_srcc")
    severity: dict[int, float] = {}

    def flag(k: int, how_bad: float) -> None:
        severity[k] = max(severity.get(k, 0.0), how_bad)

    for k in range(n):
        if bias[k] > max_abs_bias:
            flag(k, bias[k] / max(max_abs_bias, 1e-9))
        if srcc[k] < weak_srcc:
            flag(k, 1.0 + (weak_srcc - srcc[k]))
        if mean_srcc is not None and mean_srcc < min_mean_srcc and srcc[k] < min_mean_srcc:
            flag(k, 1.0 + (min_mean_srcc - srcc[k]))
        if mae > max_mae and mae_d[k] > max_mae:
            flag(k, mae_d[k] / max(max_mae, 1e-9))
    if not severity:
        for k in np.argsort(-np.asarray(mae_d, dtype=np.float64), kind="stable")[: min(3, n)]:
            severity[int(k)] = mae_d[int(k)]
    order = sorted(severity, key=lambda k: (-severity[k], k))
    return [keys[k] for k in order]


def pick_retraining_items(
    gold_means: npt.ArrayLike,
    *,
    focus: Sequence[int],
    n_items: int,
    exclude: set[int] | frozenset[int],
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """``n_items`` (bank index, focus dimension index) pairs; fewer if the bank runs out of fresh items."""
    gold = np.asarray(gold_means, dtype=np.float64)
    if gold.ndim != 2:
        raise ValueError(f"gold_means must be [n_gold, D], got shape {gold.shape}")
    if not focus:
        raise ValueError("retraining needs at least one focus dimension")
    n_gold = gold.shape[0]
    if n_gold == 0:
        return []
    cuts = np.quantile(gold, [1 / 3, 2 / 3], axis=0)
    thirds = (gold > cuts[0]).astype(np.int64) + (gold > cuts[1]).astype(np.int64)
    used = np.zeros(n_gold, dtype=bool)
    used[[int(i) for i in exclude if 0 <= int(i) < n_gold]] = True
    picked: list[tuple[int, int]] = []
    for slot in range(n_items):
        if used.all():
            break
        dim = int(focus[slot % len(focus)])
        want = _THIRD_ORDER[(slot // len(focus)) % 3]
        for third in sorted(range(3), key=lambda t: (abs(t - want), t)):
            pool = np.flatnonzero(~used & (thirds[:, dim] == third))
            if pool.size:
                item = int(rng.choice(pool))
                used[item] = True
                picked.append((item, dim))
                break
    return picked
