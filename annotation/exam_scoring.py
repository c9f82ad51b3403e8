"""Pure math of the qualification exam against expert gold (docs/qualification.md).

No Django, only numpy/scipy. A response matrix is ``[n_items, D]`` in ``[0, 1]`` (NaN = "can't
judge", skipped pairwise); gold is the expert mean ``G`` (and optionally SD ``s_G``) per item and
dimension. The pass rule gates on *pooled* metrics (MAE, mean-over-dims SRCC, per-dim bias),
because a per-dimension correlation from 24 items is rough (r = 0.7 -> 95 % CI 0.41-0.86).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from annotation.pass_rules import ExamMetrics, PassRule
from annotation.standards.humanbeauty import DIMENSION_KEYS

FloatArray = npt.NDArray[np.float64]


def _rankdata(a: npt.ArrayLike, axis: int | None = None) -> FloatArray:
    """``scipy.stats.rankdata``, imported on first use: scipy.stats costs about a second to import, and
    most importers of this module (qualification selectors, the release freeze) never rank."""
    from scipy import stats

    return stats.rankdata(a) if axis is None else stats.rankdata(a, axis=axis)


__all__ = [
    "ExamForm",
    "ExamResult",
    "PassRule",
    "draw_exam_form",
    "gold_coverage",
    "hidden_gold_status",
    "score_exam",
]

NORMALISED_ERROR_FLOOR = 0.05  # e / max(s_G, 0.05)


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _pearson(x: FloatArray, y: FloatArray) -> float:
    """PLCC; 0.0 (not NaN) when fewer than 2 pairs or either side is constant."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    dx, dy = x - x.mean(), y - y.mean()
    den = float(np.sqrt(np.sum(dx * dx) * np.sum(dy * dy)))
    if den <= 0.0:
        return 0.0
    return float(np.clip(np.sum(dx * dy) / den, -1.0, 1.0))


def _pearson_columns(x: FloatArray, y: FloatArray) -> list[float]:
    """Column-wise :func:`_pearson` of two ``[n, D]`` matrices without NaN (0.0 where a column is constant)."""
    if x.shape[0] < 2:
        return [0.0] * x.shape[1]
    dx, dy = x - x.mean(axis=0), y - y.mean(axis=0)
    den = np.sqrt(np.sum(dx * dx, axis=0) * np.sum(dy * dy, axis=0))
    constant = (np.ptp(x, axis=0) == 0) | (np.ptp(y, axis=0) == 0) | (den <= 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(np.sum(dx * dy, axis=0) / np.where(constant, 1.0, den), -1.0, 1.0)
    return [0.0 if c else float(v) for v, c in zip(r, constant, strict=True)]


def _spearman(x: FloatArray, y: FloatArray) -> float:
    """SRCC (Pearson of average ranks); 0.0 for constant input so a straight-liner fails."""
    if x.size < 2:
        return 0.0
    return _pearson(_rankdata(x), _rankdata(y))


def _check_matrix(name: str, a: npt.ArrayLike, *, allow_nan: bool) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [n_items, D] array, got shape {arr.shape}")
    if np.isinf(arr).any() or (not allow_nan and np.isnan(arr).any()):
        raise ValueError(f"{name} must be finite" + (" (NaN allowed)" if allow_nan else ""))
    finite = arr[np.isfinite(arr)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError(f"{name} out of range [0, 1]: min={finite.min()!r}, max={finite.max()!r}")
    return arr


def _keys(d: int) -> list[str]:
    return list(DIMENSION_KEYS) if d == len(DIMENSION_KEYS) else [f"dim_{k}" for k in range(d)]


@dataclass
class ExamResult:
    """Metrics of one scored exam; per-dimension lists follow the dimension order."""

    n_items: int
    mae: float
    mae_per_dim: list[float]
    bias_per_dim: list[float]  # mean(response - gold), signed
    plcc_per_dim: list[float]
    srcc_per_dim: list[float]
    pooled_plcc: float
    pooled_srcc: float
    mean_srcc: float
    normalised_error: float | None  # mean |e| / max(s_G, 0.05), None without gold SD
    normalised_error_per_dim: list[float] | None
    passed: bool
    reasons: list[str] = field(default_factory=list)
    weak_dimensions: list[int] = field(default_factory=list)
    dimension_keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (NaN -> None), weak dimensions also given by key."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = _finite_or_none(v)
            elif isinstance(v, list) and v and isinstance(v[0], float):
                out[k] = [_finite_or_none(x) for x in v]
        out["weak_dimension_keys"] = [self.dimension_keys[i] for i in self.weak_dimensions]
        return out


def score_exam(
    responses: npt.ArrayLike,
    gold_mean: npt.ArrayLike,
    *,
    rule: PassRule | None = None,
    gold_sd: npt.ArrayLike | None = None,
) -> ExamResult:
    """Score one exam: MAE, signed bias, PLCC/SRCC per dimension and pooled, pass/fail.

    NaN responses are skipped pair-wise. Correlations of a constant vector are 0 (a
    straight-liner cannot pass on correlation). ``reasons`` lists every failed criterion in
    plain words; ``weak_dimensions`` are dimensions with SRCC below ``rule.weak_dimension_srcc``.
    Metrics are invariant to the order of the items.
    """
    rule = rule or PassRule()
    r = _check_matrix("responses", responses, allow_nan=True)
    g = _check_matrix("gold_mean", gold_mean, allow_nan=False)
    if r.shape != g.shape:
        raise ValueError(f"responses {r.shape} and gold_mean {g.shape} must have the same shape")
    n_items, d = r.shape
    if n_items == 0 or d == 0:
        raise ValueError("an exam needs at least one item and one dimension")
    valid = ~np.isnan(r)
    if not valid.any():
        raise ValueError("responses are all NaN (nothing to score)")
    err = np.where(valid, r - g, 0.0)
    cnt = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = np.where(cnt > 0, err.sum(axis=0) / np.maximum(cnt, 1), np.nan)
        mae_d = np.where(cnt > 0, np.abs(err).sum(axis=0) / np.maximum(cnt, 1), np.nan)
    mae = float(np.abs(err).sum() / valid.sum())
    if valid.all():  # the common case: every column at once (same values as the per-column path)
        plcc = _pearson_columns(r, g)
        srcc = _pearson_columns(_rankdata(r, axis=0), _rankdata(g, axis=0))
    else:
        plcc = [_pearson(r[valid[:, k], k], g[valid[:, k], k]) for k in range(d)]
        srcc = [_spearman(r[valid[:, k], k], g[valid[:, k], k]) for k in range(d)]
    pooled_plcc = _pearson(r[valid], g[valid])
    pooled_srcc = _spearman(r[valid], g[valid])
    mean_srcc = float(np.mean(srcc))

    norm_err: float | None = None
    norm_err_d: list[float] | None = None
    if gold_sd is not None:
        sd = np.asarray(gold_sd, dtype=np.float64)
        if sd.shape != g.shape or not np.isfinite(sd).all() or (sd < 0).any():
            raise ValueError(f"gold_sd must be finite, >= 0 and of shape {g.shape}")
        ne = np.where(valid, np.abs(err) / np.maximum(sd, NORMALISED_ERROR_FLOOR), 0.0)
        norm_err = float(ne.sum() / valid.sum())
        with np.errstate(invalid="ignore"):
            norm_err_d = [float(x) for x in np.where(cnt > 0, ne.sum(axis=0) / np.maximum(cnt, 1), np.nan)]

    keys = _keys(d)
    # The pass rules are objects (annotation.pass_rules): each lists the reasons it fails.
    reasons = rule.evaluate(
        ExamMetrics(mae=mae, mean_srcc=mean_srcc, bias_per_dim=[float(b) for b in bias], dimension_keys=keys)
    )
    weak = [k for k in range(d) if srcc[k] < rule.weak_dimension_srcc]
    return ExamResult(
        n_items=n_items,
        mae=mae,
        mae_per_dim=[float(x) for x in mae_d],
        bias_per_dim=[float(x) for x in bias],
        plcc_per_dim=plcc,
        srcc_per_dim=srcc,
        pooled_plcc=pooled_plcc,
        pooled_srcc=pooled_srcc,
        mean_srcc=mean_srcc,
        normalised_error=norm_err,
        normalised_error_per_dim=norm_err_d,
        passed=not reasons,
        reasons=reasons,
        weak_dimensions=weak,
        dimension_keys=keys,
    )


@dataclass(frozen=True)
class ExamForm:
    """Indices into the gold bank: unscored warm-ups first, then the scored items (shuffled)."""

    warmup: list[int]
    scored: list[int]

    def to_dict(self) -> dict[str, list[int]]:
        return {"warmup": list(self.warmup), "scored": list(self.scored)}


def _thirds(gold: FloatArray) -> npt.NDArray[np.int64]:
    """Low/mid/high third (0/1/2) of each item per dimension, by the bank's tertiles."""
    cuts = np.quantile(gold, [1 / 3, 2 / 3], axis=0)  # [2, D]
    return (gold > cuts[0]).astype(np.int64) + (gold > cuts[1]).astype(np.int64)


def _greedy_pick(
    cells: npt.NDArray[np.int64],
    candidates: npt.NDArray[np.int64],
    n_pick: int,
    counts: npt.NDArray[np.int64],
    quota: float,
    rng: np.random.Generator,
) -> list[int]:
    """Greedy stratified pick; ``counts [D, 3]`` is updated in place."""
    d = cells.shape[1]
    cand = list(rng.permutation(candidates))
    picked: list[int] = []
    dims = np.arange(d)
    for _ in range(n_pick):
        arr = np.asarray(cand, dtype=np.int64)
        c = counts[dims, cells[arr]]  # [n_cand, D] current count of each candidate's cells
        gain = np.maximum(quota - c, 0.0).sum(axis=1) + 10.0 * (c == 0).sum(axis=1)
        best = int(np.argmax(gain))  # first maximum = random tie-break (candidates are shuffled)
        item = cand.pop(best)
        picked.append(item)
        counts[dims, cells[item]] += 1
    return picked


def draw_exam_form(
    gold_means: npt.ArrayLike,
    *,
    n_scored: int = 24,
    n_warmup: int = 3,
    rng: np.random.Generator | int | None = None,
    exclude: set[int] | frozenset[int] = frozenset(),
) -> ExamForm:
    """Draw a fresh exam form stratified over every dimension's range.

    Design: each bank item falls into the low/mid/high third of every dimension (tertiles of
    the bank, so each third holds ~1/3 of the bank). The scored items are picked greedily: at
    each step take the candidate whose 12 cells are most under-filled, gain =
    ``sum_d max(quota - count[d, third], 0) + 10 * #empty cells`` with ``quota = n_scored / 3``;
    ties go to a seeded random order. With a bank >= 3x the form this fills every (dimension,
    third) cell, usually near ``n_scored / 3`` each. Warm-ups are drawn at random from the rest.

    Items in ``exclude`` (the volunteer's previous forms) are used only if the fresh items are
    too few, and then the fresh ones come first. Deterministic for a given seed/generator.
    Raises ``ValueError`` if the bank has fewer than ``n_scored + n_warmup`` items.
    """
    gold = np.asarray(gold_means, dtype=np.float64)
    if gold.ndim != 2 or not np.isfinite(gold).all():
        raise ValueError(f"gold_means must be a finite [n_gold, D] array, got shape {gold.shape}")
    if n_scored < 1 or n_warmup < 0:
        raise ValueError(f"need n_scored >= 1 and n_warmup >= 0, got {n_scored}, {n_warmup}")
    n_gold = gold.shape[0]
    need = n_scored + n_warmup
    if n_gold < need:
        raise ValueError(
            f"gold bank too small: {n_gold} items, a form needs {need} "
            f"({n_scored} scored + {n_warmup} warm-up)"
        )
    bad = [i for i in exclude if not 0 <= int(i) < n_gold]
    if bad:
        raise ValueError(f"exclude holds indices outside the bank [0, {n_gold}): {sorted(bad)[:5]}")
    gen = _rng(rng)
    cells = _thirds(gold)
    excluded = np.zeros(n_gold, dtype=bool)
    excluded[list(map(int, exclude))] = True
    fresh = np.flatnonzero(~excluded)
    reused = np.flatnonzero(excluded)
    counts = np.zeros((gold.shape[1], 3), dtype=np.int64)
    quota = n_scored / 3.0
    take_fresh = min(n_scored, fresh.size)
    scored = _greedy_pick(cells, fresh, take_fresh, counts, quota, gen)
    if take_fresh < n_scored:
        scored += _greedy_pick(cells, reused, n_scored - take_fresh, counts, quota, gen)
    used = set(scored)
    rest_fresh = [i for i in gen.permutation(fresh).tolist() if i not in used]
    rest_reused = [i for i in gen.permutation(reused).tolist() if i not in used]
    warmup = (rest_fresh + rest_reused)[:n_warmup]
    order = gen.permutation(len(scored))
    return ExamForm(warmup=[int(i) for i in warmup], scored=[int(scored[i]) for i in order])


def gold_coverage(gold_means: npt.ArrayLike, bins: int = 5) -> dict[str, Any]:
    """Per-dimension histogram over ``[0, 1]`` (``bins`` equal bins), SD and range of the bank.

    ``sd_ok`` flags whether the bank's SD across images is >= 0.2 (below
    that, correlations on a 24-item form mean little). JSON-serialisable.
    """
    gold = np.asarray(gold_means, dtype=np.float64)
    if gold.ndim != 2 or not np.isfinite(gold).all():
        raise ValueError(f"gold_means must be a finite [n_gold, D] array, got shape {gold.shape}")
    if bins < 1:
        raise ValueError("bins must be >= 1")
    edges = np.linspace(0.0, 1.0, bins + 1)
    keys = _keys(gold.shape[1])
    dims = []
    for k, key in enumerate(keys):
        col = gold[:, k]
        counts, _ = np.histogram(np.clip(col, 0.0, 1.0), bins=edges)
        sd = float(col.std(ddof=1)) if col.size > 1 else float("nan")
        dims.append(
            {
                "key": key,
                "counts": counts.tolist(),
                "sd": _finite_or_none(sd),
                "mean": _finite_or_none(float(col.mean())) if col.size else None,
                "min": float(col.min()) if col.size else None,
                "max": float(col.max()) if col.size else None,
                "sd_ok": bool(np.isfinite(sd) and sd >= 0.2),
            }
        )
    return {"n_items": int(gold.shape[0]), "bin_edges": edges.tolist(), "dimensions": dims}


def hidden_gold_status(
    abs_errors_last_window: list[float] | npt.ArrayLike,
    *,
    rule: PassRule | None = None,
    window: int = 10,
    warn_margin: float = 0.02,
    suspend_margin: float = 0.05,
    min_answers: int = 5,
) -> Literal["ok", "warn", "suspend"]:
    """Rolling hidden-gold check (docs/qualification.md).

    ``abs_errors_last_window``: per-gold-image MAE (over dimensions), oldest first; only the
    last ``window`` count. Fewer than ``min_answers`` -> ``"ok"`` (not enough evidence).
    Rolling MAE ``> max_mae + suspend_margin`` -> ``"suspend"``; ``> max_mae + warn_margin`` ->
    ``"warn"``; else ``"ok"``.
    """
    rule = rule or PassRule()
    errs = np.asarray(abs_errors_last_window, dtype=np.float64).ravel()
    if errs.size and (not np.isfinite(errs).all() or (errs < 0).any()):
        raise ValueError("absolute errors must be finite and >= 0")
    recent = errs[-window:] if window > 0 else errs[:0]
    if recent.size < min_answers or recent.size == 0:
        return "ok"
    rolling = float(recent.mean())
    if rolling > rule.max_mae + suspend_margin:
        return "suspend"
    if rolling > rule.max_mae + warn_margin:
        return "warn"
    return "ok"
