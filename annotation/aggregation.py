"""Pure aggregation math for crowd ratings: MOS, CIs, SUREAL, screening, reliability.

No Django, only numpy/scipy. Every function takes ratings in *long format*, one row per
(image, rater) rating:

* ``image_index``: int array ``[R]`` in ``[0, n_images)``;
* ``rater_index``: int array ``[R]`` in ``[0, n_raters)``;
* ``scores``: float array ``[R, D]`` (or ``[R]`` for one dimension) in ``[0, 1]``; NaN means
  "can't judge" for that dimension and is skipped per dimension.

Everything is vectorised with ``np.bincount`` over the rows (no Python loop over images or
raters); loops run only over dimensions, AP iterations and split-half repetitions.
The formulas and their sources are in ``docs/aggregation.md`` (spec: crowd-quality.md §2-§4, §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse, stats

from modeling.standard import DIMENSION_KEYS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "ImageStats",
    "SurealResult",
    "bt500_screening",
    "icc_1_1",
    "icc_1k",
    "image_stats",
    "inconsistency_screening",
    "krippendorff_alpha_interval",
    "rater_loo_srcc",
    "rating_target",
    "rating_targets",
    "reliability_report",
    "split_half_reliability",
    "sureal_ap",
    "sureal_ap_all",
]

_Z975 = 1.959963984540054  # norm.ppf(0.975), the constant SUREAL uses for psi CIs
_AP_EPSILON = 1e-8  # w_i = 1 / (v_i^2 + eps), as P.910 Annex E / sureal


# --------------------------------------------------------------------------------------------
# validation and small helpers
# --------------------------------------------------------------------------------------------


def _as_index(name: str, values: npt.ArrayLike, n: int | None, length: int) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must be a 1-D array of length {length}, got shape {arr.shape}")
    if length and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if length:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or (n is not None and hi >= n):
            raise ValueError(f"{name} out of range: min={lo}, max={hi}, allowed [0, {n})")
    return arr


def _as_scores(scores: npt.ArrayLike, *, ndim: int | None = None) -> FloatArray:
    arr = np.asarray(scores, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"scores must be {ndim}-D, got shape {arr.shape}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"scores must be [R] or [R, D], got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError("scores contain inf; only finite values in [0, 1] or NaN are allowed")
    finite = arr[~np.isnan(arr)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError(
            f"scores out of range [0, 1]: min={finite.min()!r}, max={finite.max()!r} (NaN = can't judge)"
        )
    return arr


def _validate_long(
    image_index: npt.ArrayLike,
    scores: npt.ArrayLike,
    n_images: int | None,
    rater_index: npt.ArrayLike | None = None,
    n_raters: int | None = None,
    *,
    ndim: int | None = None,
) -> tuple[IntArray, IntArray | None, FloatArray]:
    s = _as_scores(scores, ndim=ndim)
    r = s.shape[0]
    img = _as_index("image_index", image_index, n_images, r)
    rat = None if rater_index is None else _as_index("rater_index", rater_index, n_raters, r)
    return img, rat, s


def _safe_div(num: FloatArray, den: npt.ArrayLike) -> FloatArray:
    """num / den with NaN where den == 0 (no warnings)."""
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _t975(df: npt.ArrayLike) -> FloatArray:
    """t(0.975, df) evaluated once per distinct df (NaN for df < 1)."""
    df_arr = np.asarray(df)
    out = np.full(df_arr.shape, np.nan)
    ok = df_arr >= 1
    if ok.any():
        uniq, inv = np.unique(df_arr[ok], return_inverse=True)
        out[ok] = stats.t.ppf(0.975, uniq)[inv]
    return out


def _group_mean_sd(
    groups: IntArray, values: FloatArray, n_groups: int, *, ddof: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per-group count, mean and two-pass SD (NaN where count <= ddof)."""
    n = np.bincount(groups, minlength=n_groups)
    mean = _safe_div(np.bincount(groups, weights=values, minlength=n_groups), n)
    dev = values - mean[groups]
    ss = np.bincount(groups, weights=dev * dev, minlength=n_groups)
    sd = np.sqrt(_safe_div(ss, np.where(n > ddof, n - ddof, 0)))
    return mean, sd, n


def _rank_within(groups: IntArray, values: FloatArray) -> FloatArray:
    """Average (1-based) ranks of ``values`` within each group, ties averaged; vectorised."""
    if values.size == 0:
        return values.astype(np.float64)
    order = np.lexsort((values, groups))
    sg, sv = groups[order], values[order]
    pos = np.arange(values.size)
    group_start = np.r_[True, sg[1:] != sg[:-1]]
    start_pos = np.maximum.accumulate(np.where(group_start, pos, 0))
    rank = (pos - start_pos + 1).astype(np.float64)
    tie_start = group_start | np.r_[True, sv[1:] != sv[:-1]]
    tie_id = np.cumsum(tie_start) - 1
    avg = np.bincount(tie_id, weights=rank) / np.bincount(tie_id)
    out = np.empty(values.size)
    out[order] = avg[tie_id]
    return out


def _grouped_pearson(groups: IntArray, x: FloatArray, y: FloatArray, n_groups: int) -> FloatArray:
    """Pearson r per group (NaN for < 2 points, 0 when either side is constant)."""
    n = np.bincount(groups, minlength=n_groups)
    mx = _safe_div(np.bincount(groups, weights=x, minlength=n_groups), n)
    my = _safe_div(np.bincount(groups, weights=y, minlength=n_groups), n)
    dx, dy = x - mx[groups], y - my[groups]
    sxy = np.bincount(groups, weights=dx * dy, minlength=n_groups)
    sxx = np.bincount(groups, weights=dx * dx, minlength=n_groups)
    syy = np.bincount(groups, weights=dy * dy, minlength=n_groups)
    den = np.sqrt(sxx * syy)
    r = np.where(den > 0, sxy / np.where(den > 0, den, 1.0), 0.0)
    r = np.clip(r, -1.0, 1.0)
    r[n < 2] = np.nan
    return r


def _spearman(x: FloatArray, y: FloatArray) -> float:
    """SRCC of two 1-D arrays (NaN for < 3 points, 0 if either is constant)."""
    if x.size < 3:
        return float("nan")
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    return float(_grouped_pearson(np.zeros(x.size, np.int64), rx, ry, 1)[0])


def _dimension_keys(d: int, keys: tuple[str, ...] | list[str] | None) -> list[str]:
    if keys is not None:
        if len(keys) != d:
            raise ValueError(f"expected {d} dimension keys, got {len(keys)}")
        return list(keys)
    return list(DIMENSION_KEYS) if d == len(DIMENSION_KEYS) else [f"dim_{k}" for k in range(d)]


def _json_list(arr: npt.ArrayLike) -> list[Any]:
    """ndarray -> list with NaN replaced by None (strict JSON)."""
    a = np.asarray(arr)
    if a.dtype.kind == "f":
        return [None if not np.isfinite(v) else float(v) for v in a.tolist()]
    return a.tolist()


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# --------------------------------------------------------------------------------------------
# per-image statistics (MOS, SD, CI)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageStats:
    """Per-image, per-dimension statistics; every array is ``[n_images, D]``.

    ``mos`` is NaN where ``n == 0``; ``sd`` (sample SD, ddof=1) and ``ci_half_width``
    (``t(0.975, n-1) * sd / sqrt(n)``) are NaN where ``n < 2``.
    """

    mos: FloatArray
    sd: FloatArray
    n: IntArray
    ci_half_width: FloatArray

    @property
    def max_ci_half_width(self) -> FloatArray:
        """Largest CI half-width over dimensions per image, ignoring NaN (NaN if all NaN)."""
        if self.ci_half_width.shape[1] == 0:
            return np.full(self.ci_half_width.shape[0], np.nan)
        return np.fmax.reduce(self.ci_half_width, axis=1)

    @property
    def n_ratings(self) -> IntArray:
        """Ratings per image: the largest per-dimension count (a rating skipped on some dims)."""
        return self.n.max(axis=1) if self.n.shape[1] else np.zeros(self.n.shape[0], np.int64)


def image_stats(image_index: npt.ArrayLike, scores: npt.ArrayLike, n_images: int) -> ImageStats:
    """MOS, sample SD, count and 95 % Student-t CI half-width per image and dimension.

    Design: one flat group id ``image * D + d`` over the non-NaN cells, then ``np.bincount``.
    The mean is computed in two passes (a residual correction after the first ``sum / n``) and
    finally clipped to the per-group ``[min, max]``: sums of values in ``[0, 1]`` cannot
    overflow, and the clip turns "MOS lies within the inputs" from almost-true into a
    guarantee (e.g. ``(0.1 + 0.1 + 0.1) / 3 > 0.1`` in floating point). The variance is the
    two-pass ``sum((x - mean)^2) / (n - 1)``, never ``E[x^2] - E[x]^2``.

    Raises ``ValueError`` for inf, values outside ``[0, 1]``, bad shapes or indices.
    """
    img, _, s = _validate_long(image_index, scores, n_images)
    if s.ndim == 1:
        s = s[:, None]
    d = s.shape[1]
    size = n_images * d
    mask = ~np.isnan(s)
    flat = (img[:, None] * d + np.arange(d, dtype=np.int64))[mask]
    vals = s[mask]
    n = np.bincount(flat, minlength=size)
    mean = _safe_div(np.bincount(flat, weights=vals, minlength=size), n)
    dev = vals - mean[flat]
    mean = mean + _safe_div(np.bincount(flat, weights=dev, minlength=size), n)
    lo = np.full(size, np.inf)
    hi = np.full(size, -np.inf)
    np.minimum.at(lo, flat, vals)
    np.maximum.at(hi, flat, vals)
    has = n > 0
    mean[has] = np.clip(mean[has], lo[has], hi[has])
    dev = vals - mean[flat]
    ss = np.bincount(flat, weights=dev * dev, minlength=size)
    sd = np.sqrt(_safe_div(ss, np.where(n > 1, n - 1, 0)))
    ci = _t975(n - 1) * sd / np.sqrt(np.maximum(n, 1))
    shape = (n_images, d)
    return ImageStats(
        mos=mean.reshape(shape), sd=sd.reshape(shape), n=n.reshape(shape), ci_half_width=ci.reshape(shape)
    )


# --------------------------------------------------------------------------------------------
# adaptive number of ratings (crowd-quality.md §6)
# --------------------------------------------------------------------------------------------


def rating_targets(
    n_done: npt.ArrayLike,
    ci_half_width_max: npt.ArrayLike,
    *,
    base: int = 9,
    step: int = 3,
    cap: int = 15,
    max_half_width: float = 0.15,
) -> IntArray:
    """Vectorised :func:`rating_target`: arrays of ``n_done`` and max CI half-width -> targets."""
    if base < 1 or step < 1 or cap < base:
        raise ValueError(f"need base >= 1, step >= 1, cap >= base; got base={base}, step={step}, cap={cap}")
    n = np.asarray(n_done, dtype=np.int64)
    ci = np.asarray(ci_half_width_max, dtype=np.float64)
    n, ci = np.broadcast_arrays(n, ci)
    if (n < 0).any():
        raise ValueError("n_done must be >= 0")
    wide = np.nan_to_num(ci, nan=-np.inf) > max_half_width  # NaN CI (nobody could judge) = not wide
    next_boundary = base + step * ((np.maximum(n, base) - base) // step + 1)
    grow = wide & (n >= base) & (n < cap)
    target = np.where(n < base, base, np.where(grow, np.minimum(cap, next_boundary), n))
    return target.astype(np.int64)


def rating_target(
    n_done: int,
    ci_half_width_max: float,
    *,
    base: int = 9,
    step: int = 3,
    cap: int = 15,
    max_half_width: float = 0.15,
) -> int:
    """Number of ratings an image should end with; it is complete when ``n_done >= target``.

    * ``n_done < base`` -> ``base`` (first round, CI not looked at);
    * ``n_done >= base`` and every dimension's CI half-width ``<= max_half_width`` (or NaN) ->
      ``n_done`` (complete);
    * ``n_done >= base``, some half-width ``> max_half_width`` and ``n_done < cap`` -> the next
      step boundary strictly above ``n_done``: ``min(cap, base + step * ((n_done - base) // step + 1))``,
      i.e. 9 -> 12, 10 or 11 -> 12 (a top-up round in progress keeps its target), 12 -> 15;
    * ``n_done >= cap`` -> ``n_done`` (cap reached, complete).

    Assignment leases a further rating while ``n_done + n_leased < target``.
    """
    return int(
        rating_targets(
            np.int64(n_done),
            np.float64(ci_half_width_max),
            base=base,
            step=step,
            cap=cap,
            max_half_width=max_half_width,
        )
    )


# --------------------------------------------------------------------------------------------
# SUREAL alternating projection (P.910 Annex E, content-oblivious)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurealResult:
    """Output of :func:`sureal_ap` for one dimension.

    Model ``u_ij = psi_j + delta_i + upsilon_i * X``. Images without ratings get NaN psi;
    raters without ratings get NaN delta/upsilon.
    """

    psi: FloatArray  # [n_images] recovered quality
    psi_se: FloatArray  # [n_images] standard error: v_j / sqrt(n_j), v_j = residual SD of image j
    psi_ci95: FloatArray  # [n_images] half-width 1.96 * psi_se
    delta: FloatArray  # [n_raters] bias, mean zero over raters with ratings
    delta_se: FloatArray  # [n_raters] v_i / sqrt(n_i)
    upsilon: FloatArray  # [n_raters] inconsistency (population SD of residuals)
    upsilon_ci_low: FloatArray  # [n_raters] sqrt(n_i / chi2_.975(n_i)) * upsilon
    upsilon_ci_high: FloatArray  # [n_raters] sqrt(n_i / chi2_.025(n_i)) * upsilon
    upsilon_imputed: BoolArray  # [n_raters] True where upsilon is the pooled median (n_i < min)
    n_per_image: IntArray
    n_per_rater: IntArray
    n_iter: int
    converged: bool


def sureal_ap(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores_1d: npt.ArrayLike,
    n_images: int,
    n_raters: int,
    *,
    max_iter: int = 1000,
    tol: float = 1e-8,
    min_ratings_for_upsilon: int = 2,
) -> SurealResult:
    """SUREAL alternating projection (P.910 Annex E / sureal ``P910AnnexEModel``), long format.

    Design note (crowd-quality.md §3)::

        psi_j = mean_i u_ij ; b_i = mean_j (u_ij - psi_j)
        repeat: e_ij = u_ij - psi_j - b_i
                v_i  = std_j(e_ij)              (population SD per rater)
                w_i  = 1 / (v_i^2 + 1e-8)
                psi_j = sum_i w_i (u_ij - b_i) / sum_i w_i
                b_i  = mean_j (u_ij - psi_j)
        until ||psi - psi_prev||_2 < tol (max_iter)
        shift: c = mean(b); b -= c; psi += c

    ``psi_se`` follows sureal's ``SubjectMLEModelProjectionSolver2``: ``1/sqrt(sum_i 1/v_j^2)``
    with ``v_j`` the population SD of image j's residuals from the last iteration, i.e.
    ``v_j / sqrt(n_j)``. The υ CI is the chi-square interval with ``n_i`` degrees of freedom.

    Deviation from sureal, for sparse crowd designs: a rater with fewer than
    ``min_ratings_for_upsilon`` ratings has a residual SD of exactly 0 (one rating is its own
    bias), which would give weight 1e8 and let that single rating define psi. Such raters get
    the median υ of the other raters instead (flagged in ``upsilon_imputed``); if no rater
    qualifies, all weights are equal (υ = 1). Bias is identifiable only within a connected
    component of the image-rater graph; random assignment keeps the graph connected.
    """
    img, rat, s = _validate_long(image_index, scores_1d, n_images, rater_index, n_raters, ndim=1)
    assert rat is not None
    keep = ~np.isnan(s)
    order = np.argsort(img[keep], kind="stable")  # rows grouped by image -> np.add.reduceat
    j, i, u = img[keep][order], rat[keep][order], s[keep][order]
    n_j = np.bincount(j, minlength=n_images)
    n_i = np.bincount(i, minlength=n_raters)
    has_j = n_j > 0
    has_i = n_i > 0
    impute = has_i & (n_i < min_ratings_for_upsilon)
    good = has_i & ~impute
    seg = (np.cumsum(n_j) - n_j)[has_j]  # start of each rated image's rows
    nj_f = n_j[has_j].astype(np.float64)
    ni_f = np.where(has_i, n_i, 1).astype(np.float64)

    def per_image(x: FloatArray) -> FloatArray:
        return np.add.reduceat(x, seg) if x.size else np.zeros(0)

    def per_rater(x: FloatArray) -> FloatArray:
        return np.bincount(i, weights=x, minlength=n_raters) / ni_f

    psi_c = per_image(u) / nj_f  # psi of rated images only (compact)
    r = u - np.repeat(psi_c, n_j[has_j])  # u_ij - psi_j
    b = per_rater(r)
    v = np.full(n_raters, np.nan)
    e = r - b[i]
    n_iter, converged = 0, False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        psi_prev = psi_c
        bi = b[i]
        e = r - bi
        # population variance per rater; mean_i(e) is ~0 by construction (b is the mean of r)
        v = np.sqrt(np.maximum(per_rater(e * e) - per_rater(e) ** 2, 0.0))
        if good.any():
            v[impute] = np.median(v[good])
        else:
            v[has_i] = 1.0
        wr = (1.0 / (v * v + _AP_EPSILON))[i]
        psi_c = per_image(wr * (u - bi)) / per_image(wr)
        r = u - np.repeat(psi_c, n_j[has_j])
        b = per_rater(r)
        step = psi_c - psi_prev
        if float(np.sqrt(np.sum(step * step))) < tol:  # L2 norm (np.linalg.norm goes through BLAS)
            converged = True
            break
    v[~has_i] = np.nan
    b[~has_i] = np.nan
    psi = np.full(n_images, np.nan)
    psi[has_j] = psi_c

    _, v_j, _ = _group_mean_sd(j, e, n_images, ddof=0)  # residual SD per image, last iteration
    psi_se = v_j / np.sqrt(np.where(has_j, n_j, 1))
    psi_se[~has_j] = np.nan
    delta_se = v / np.sqrt(ni_f)

    c = float(b[has_i].mean()) if has_i.any() else 0.0
    b = b - c
    psi = psi + c

    lo_f = np.full(n_raters, np.nan)
    hi_f = np.full(n_raters, np.nan)
    if has_i.any():
        uniq, inv = np.unique(n_i[has_i], return_inverse=True)
        lo_f[has_i] = np.sqrt(uniq / stats.chi2.ppf(0.975, uniq))[inv]
        hi_f[has_i] = np.sqrt(uniq / stats.chi2.ppf(0.025, uniq))[inv]
    v_out = np.where(has_i, v, np.nan)
    return SurealResult(
        psi=psi,
        psi_se=psi_se,
        psi_ci95=_Z975 * psi_se,
        delta=b,
        delta_se=delta_se,
        upsilon=v_out,
        upsilon_ci_low=lo_f * v_out,
        upsilon_ci_high=hi_f * v_out,
        upsilon_imputed=impute,
        n_per_image=n_j,
        n_per_rater=n_i,
        n_iter=n_iter,
        converged=converged,
    )


def sureal_ap_all(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores: npt.ArrayLike,
    n_images: int,
    n_raters: int,
    *,
    max_iter: int = 1000,
    tol: float = 1e-8,
    min_ratings_for_upsilon: int = 2,
) -> list[SurealResult]:
    """:func:`sureal_ap` for each column of ``scores [R, D]`` (one model per dimension)."""
    img, rat, s = _validate_long(image_index, scores, n_images, rater_index, n_raters, ndim=2)
    return [
        sureal_ap(
            img,
            rat,
            s[:, k],
            n_images,
            n_raters,
            max_iter=max_iter,
            tol=tol,
            min_ratings_for_upsilon=min_ratings_for_upsilon,
        )
        for k in range(s.shape[1])
    ]


# --------------------------------------------------------------------------------------------
# rater screening (report only)
# --------------------------------------------------------------------------------------------


def bt500_screening(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores: npt.ArrayLike,
    n_raters: int,
    *,
    normalise: str = "per_rater",
) -> dict[str, Any]:
    """ITU-R BT.500-14 A1-2.3.1 observer screening; a *report*, never an automatic ban.

    A presentation is one (image, dimension) cell with ``n >= 2`` scores and sample SD > 0.
    ``beta2 = m4 / m2^2`` (moments about the mean, divided by n); ``c = 2`` if
    ``2 <= beta2 <= 4`` else ``sqrt(20)``. Rater i gets ``P_i += 1`` for ``u >= mean + c*s`` and
    ``Q_i += 1`` for ``u <= mean - c*s`` (s = sample SD, as BT.500; sureal uses population SD).
    Rejected if ``(P+Q)/N_i > 0.05`` and ``|P-Q|/(P+Q) < 0.3``. ``normalise="per_rater"`` (default,
    recommended in crowd-quality.md §2) uses N_i = evaluable presentations rater i scored;
    ``"all"`` divides by all evaluable presentations, as sureal does (almost never fires on
    sparse designs). Returns a JSON-serialisable dict.
    """
    if normalise not in ("per_rater", "all"):
        raise ValueError(f"normalise must be 'per_rater' or 'all', got {normalise!r}")
    img, rat, s = _validate_long(image_index, scores, None, rater_index, n_raters)
    assert rat is not None
    if s.ndim == 1:
        s = s[:, None]
    d = s.shape[1]
    mask = ~np.isnan(s)
    p = (img[:, None] * d + np.arange(d, dtype=np.int64))[mask]
    who = np.broadcast_to(rat[:, None], s.shape)[mask]
    u = s[mask]
    if p.size:
        uniq_p, p = np.unique(p, return_inverse=True)
        n_p_groups = uniq_p.size
    else:
        n_p_groups = 0
    n = np.bincount(p, minlength=n_p_groups)
    mean = _safe_div(np.bincount(p, weights=u, minlength=n_p_groups), n)
    dev = u - mean[p]
    m2 = _safe_div(np.bincount(p, weights=dev**2, minlength=n_p_groups), n)
    m4 = _safe_div(np.bincount(p, weights=dev**4, minlength=n_p_groups), n)
    sd = np.sqrt(_safe_div(m2 * n, np.where(n > 1, n - 1, 0)))
    evaluable = (n >= 2) & (sd > 0)
    beta2 = _safe_div(m4, np.where(evaluable, m2 * m2, 0.0))
    c = np.where((beta2 >= 2.0) & (beta2 <= 4.0), 2.0, np.sqrt(20.0))
    row_ok = evaluable[p]
    hi = row_ok & (u >= mean[p] + c[p] * sd[p])
    lo = row_ok & (u <= mean[p] - c[p] * sd[p])
    P = np.bincount(who[hi], minlength=n_raters)
    Q = np.bincount(who[lo], minlength=n_raters)
    N_i = np.bincount(who[row_ok], minlength=n_raters)
    n_eval = int(evaluable.sum())
    denom = N_i if normalise == "per_rater" else np.full(n_raters, n_eval)
    rate = _safe_div((P + Q).astype(np.float64), denom)
    asym = _safe_div(np.abs(P - Q).astype(np.float64), P + Q)
    rejected = np.flatnonzero((np.nan_to_num(rate) > 0.05) & (np.nan_to_num(asym, nan=1.0) < 0.3))
    return {
        "method": "ITU-R BT.500-14 A1-2.3.1",
        "normalise": normalise,
        "n_presentations": n_eval,
        "share_normal_kurtosis": float(np.mean((beta2 >= 2) & (beta2 <= 4))) if n_eval else None,
        "P": P.tolist(),
        "Q": Q.tolist(),
        "N": N_i.tolist(),
        "outlier_rate": _json_list(rate),
        "asymmetry": _json_list(asym),
        "rejected": rejected.tolist(),
    }


def inconsistency_screening(upsilon: npt.ArrayLike, percentile: float = 95) -> IntArray:
    """Indices of raters whose υ exceeds the given percentile of the finite υ values."""
    v = np.asarray(upsilon, dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros(0, dtype=np.int64)
    cut = np.percentile(v[finite], percentile)
    return np.flatnonzero(finite & (v > cut)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# reliability (crowd-quality.md §4)
# --------------------------------------------------------------------------------------------


def _average_ranks(a: FloatArray) -> FloatArray:
    """Average (1-based) ranks along the last axis of ``a [D, n]``, ties averaged; NaN ranks last.

    Same as ``scipy.stats.rankdata(a, axis=-1)`` on finite data; one argsort, then tie groups
    via a flat ``np.bincount``.
    """
    d, n = a.shape
    order = np.argsort(a, axis=-1)
    flat = (order + (np.arange(d) * n)[:, None]).ravel()
    sv = a.ravel()[flat]
    new = np.empty(sv.size, dtype=bool)
    new[0] = True
    np.not_equal(sv[1:], sv[:-1], out=new[1:])
    new[::n] = True
    tie_id = np.cumsum(new) - 1
    pos = np.tile(np.arange(1, n + 1, dtype=np.float64), d)
    avg = np.bincount(tie_id, weights=pos) / np.bincount(tie_id)
    out = np.empty(sv.size)
    out[flat] = avg[tie_id]
    return out.reshape(d, n)


def _split_half_multi(
    img: IntArray, s: FloatArray, *, n_splits: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Mean split-half SRCC per column of ``s [R, D]``; the same random split serves every column.

    Design: only images with >= 2 ratings take part. Per split one argsort of
    ``image + U(0, 1)`` groups the rows by image in random order; the first ``n_j // 2`` rows of
    each image form half A, the rest half B. Two sparse 0/1 (image x row) matrices times the
    ``[R, 2D]`` block of scores and counts give every half sum in O(R * D). The SRCC per column
    is taken over images whose two halves both have a score in that column.
    """
    d = s.shape[1]
    if img.size:
        keep = np.bincount(img)[img] >= 2
        img, s = img[keep], s[keep]
    if img.size == 0:
        return np.full(d, np.nan), np.full(d, np.nan)
    _, img = np.unique(img, return_inverse=True)
    n_rows = img.size
    n_j = np.bincount(img)
    n_img = n_j.size
    half = n_j // 2
    # After sorting by (image, random key) the rows of image j sit at [start_j, start_j + n_j);
    # the first half_j of them form half A. That position mask is the same for every split.
    pos = np.arange(n_rows) - np.repeat(np.cumsum(n_j) - n_j, n_j)
    first_half = pos < np.repeat(half, n_j)
    ptr_a = np.r_[0, np.cumsum(half)]
    ptr_b = np.r_[0, np.cumsum(n_j - half)]
    ones_a = np.ones(int(ptr_a[-1]))
    ones_b = np.ones(int(ptr_b[-1]))
    mask = ~np.isnan(s)
    x = np.concatenate([np.where(mask, s, 0.0), mask.astype(np.float64)], axis=1)  # [R, 2D]
    srcc = np.zeros((n_splits, d))
    cols = np.broadcast_to(np.arange(d)[:, None], (d, n_img))
    for k in range(n_splits):
        order = np.argsort(img + rng.random(n_rows))
        # half sums as (image x row) 0/1 CSR matrices times [scores, counts]: O(R * D)
        m_a = sparse.csr_matrix((ones_a, order[first_half], ptr_a), shape=(n_img, n_rows))
        m_b = sparse.csr_matrix((ones_b, order[~first_half], ptr_b), shape=(n_img, n_rows))
        half_a, half_b = m_a @ x, m_b @ x
        mos_a = _safe_div(half_a[:, :d].T, half_a[:, d:].T)  # [D, n_img]
        mos_b = _safe_div(half_b[:, :d].T, half_b[:, d:].T)
        both = ~(np.isnan(mos_a) | np.isnan(mos_b))
        # NaN sorts last, so the ranks of the valid cells are 1..n_valid within each dimension.
        ra = _average_ranks(np.where(both, mos_a, np.nan))
        rb = _average_ranks(np.where(both, mos_b, np.nan))
        srcc[k] = _grouped_pearson(cols[both], ra[both], rb[both], d)
        srcc[k, both.sum(axis=1) < 3] = np.nan
    r_mean = srcc.mean(axis=0)
    return r_mean, 2 * r_mean / (1 + r_mean)


def split_half_reliability(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores_1d: npt.ArrayLike,
    *,
    n_splits: int = 20,
    rng: np.random.Generator | int | None = None,
) -> tuple[float, float]:
    """Split-half reliability: (mean SRCC between half-MOSs over ``n_splits``, Spearman-Brown).

    Each image's raters are split at random into halves of ``n // 2`` and ``n - n // 2``;
    Spearman-Brown ``2r / (1 + r)`` estimates the reliability of the full-k MOS.
    """
    img, _, s = _validate_long(image_index, scores_1d, None, rater_index, None, ndim=1)
    r_mean, sb = _split_half_multi(img, s[:, None], n_splits=n_splits, rng=_rng(rng))
    return float(r_mean[0]), float(sb[0])


def _oneway_anova(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> tuple[float, float, float]:
    """(MS_between, MS_within, n0) of the unbalanced one-way ANOVA with images as groups."""
    img, _, s = _validate_long(image_index, scores_1d, None, ndim=1)
    keep = ~np.isnan(s)
    img, u = img[keep], s[keep]
    total = u.size
    if total == 0:
        return float("nan"), float("nan"), float("nan")
    n_slots = int(img.max()) + 1
    mean_j, _, n_j = _group_mean_sd(img, u, n_slots, ddof=1)
    has = n_j > 0
    n_groups = int(has.sum())
    if n_groups < 2 or total <= n_groups:
        return float("nan"), float("nan"), float("nan")
    grand = u.mean()
    ss_b = float(np.sum(n_j[has] * (mean_j[has] - grand) ** 2))
    dev = u - mean_j[img]
    ss_w = float(np.sum(dev * dev))
    ms_b = ss_b / (n_groups - 1)
    ms_w = ss_w / (total - n_groups)
    n0 = (total - float(np.sum(n_j.astype(np.float64) ** 2)) / total) / (n_groups - 1)
    return ms_b, ms_w, n0


def icc_1_1(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> float:
    """ICC(1,1), one-way random, unbalanced: ``(MS_B - MS_W) / (MS_B + (n0 - 1) MS_W)``."""
    ms_b, ms_w, n0 = _oneway_anova(image_index, scores_1d)
    den = ms_b + (n0 - 1) * ms_w
    return float((ms_b - ms_w) / den) if np.isfinite(den) and den > 0 else float("nan")


def icc_1k(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> float:
    """ICC(1,k), reliability of the per-image mean: ``(MS_B - MS_W) / MS_B``."""
    ms_b, ms_w, _ = _oneway_anova(image_index, scores_1d)
    return float((ms_b - ms_w) / ms_b) if np.isfinite(ms_b) and ms_b > 0 else float("nan")


def krippendorff_alpha_interval(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> float:
    """Krippendorff's alpha, interval metric, closed form in O(R).

    ``alpha = 1 - (N-1)/N * sum_u[m_u SS_u / (m_u - 1)] / SS_tot`` over units (images) with
    ``m_u >= 2`` pairable values, ``N = sum m_u``, ``SS_u`` the within-unit sum of squares and
    ``SS_tot`` the sum of squares of all pairable values about their grand mean. Equivalent to
    the coincidence-matrix definition (no value-by-value matrix). NaN if no variation.
    """
    img, _, s = _validate_long(image_index, scores_1d, None, ndim=1)
    keep = ~np.isnan(s)
    img, u = img[keep], s[keep]
    if u.size == 0:
        return float("nan")
    n_slots = int(img.max()) + 1
    m_u = np.bincount(img, minlength=n_slots)
    pair = m_u[img] >= 2
    img, u = img[pair], u[pair]
    total = u.size
    if total < 2:
        return float("nan")
    mean_u, _, m_u = _group_mean_sd(img, u, n_slots, ddof=1)
    dev = u - mean_u[img]
    ss_u = np.bincount(img, weights=dev * dev, minlength=n_slots)
    ok = m_u >= 2
    d_o = float(np.sum(m_u[ok] * ss_u[ok] / (m_u[ok] - 1)))
    if np.ptp(u) == 0:  # no variation at all: alpha is undefined
        return float("nan")
    g = u - u.mean()
    ss_tot = float(np.sum(g * g))
    if ss_tot <= 0:
        return float("nan")
    return 1.0 - (total - 1) / total * d_o / ss_tot


def rater_loo_srcc(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores_1d: npt.ArrayLike,
    n_raters: int,
    *,
    min_items: int = 5,
) -> FloatArray:
    """Per-rater leave-one-out SRCC: a rater's scores vs the mean of the *other* raters.

    Only images with at least one other score count. NaN for raters with fewer than
    ``min_items`` such images; 0 for a rater (or LOO mean) without variation. Vectorised:
    ranks within rater via one lexsort, then a grouped Pearson on the ranks.
    """
    img, rat, s = _validate_long(image_index, scores_1d, None, rater_index, n_raters, ndim=1)
    assert rat is not None
    keep = ~np.isnan(s)
    img, rat, u = img[keep], rat[keep], s[keep]
    out = np.full(n_raters, np.nan)
    if u.size == 0:
        return out
    n_images = int(img.max()) + 1
    n_j = np.bincount(img, minlength=n_images)
    sum_j = np.bincount(img, weights=u, minlength=n_images)
    other = n_j[img] - 1
    ok = other > 0
    img, rat, u, other = img[ok], rat[ok], u[ok], other[ok]
    loo = (sum_j[img] - u) / other
    r = _grouped_pearson(rat, _rank_within(rat, u), _rank_within(rat, loo), n_raters)
    count = np.bincount(rat, minlength=n_raters)
    enough = count >= max(min_items, 2)
    out[enough] = r[enough]
    return out


def reliability_report(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    n_splits: int = 20,
    rng: np.random.Generator | int | None = None,
    dimension_keys: tuple[str, ...] | list[str] | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """Per-dimension reliability: split-half SRCC + Spearman-Brown, ICC(1,1), ICC(1,k), alpha.

    Keys are the dimension keys of :mod:`modeling.standard` when D == 12. JSON-serialisable
    (NaN -> None).
    """
    img, _, s = _validate_long(image_index, scores, None, rater_index, None)
    if s.ndim == 1:
        s = s[:, None]
    keys = _dimension_keys(s.shape[1], dimension_keys)
    r_mean, sb = _split_half_multi(img, s, n_splits=n_splits, rng=_rng(rng))

    def _f(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    report: dict[str, dict[str, float | int | None]] = {}
    for col, key in enumerate(keys):
        col_scores = s[:, col]
        valid = ~np.isnan(col_scores)
        report[key] = {
            "n_ratings": int(valid.sum()),
            "n_images": int(np.unique(img[valid]).size),
            "split_half_srcc": _f(r_mean[col]),
            "spearman_brown": _f(sb[col]),
            "icc_1_1": _f(icc_1_1(img, col_scores)),
            "icc_1k": _f(icc_1k(img, col_scores)),
            "krippendorff_alpha": _f(krippendorff_alpha_interval(img, col_scores)),
        }
    return report
