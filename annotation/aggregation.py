"""Pure aggregation math for crowd ratings: MOS, CIs, SUREAL, screening, reliability.

No Django, only numpy/scipy. Every function takes ratings in *long format*, one row per
(image, rater) rating:

* ``image_index``: int array ``[R]`` in ``[0, n_images)``;
* ``rater_index``: int array ``[R]`` in ``[0, n_raters)``;
* ``scores``: float array ``[R, D]`` (or ``[R]`` for one dimension) in ``[0, 1]``; NaN means
  "can't judge" for that dimension and is skipped per dimension.

Everything is vectorised with ``np.bincount`` or sparse 0/1 (group x row) matrices over the rows
(no Python loop over images or raters); loops run only over dimensions, AP iterations,
split-half repetitions and the distinct numbers of ratings per image.
The formulas, their sources and the benchmark behind each choice are in ``docs/aggregation.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse  # scipy.stats is imported where used (about 1 s to import)

from annotation.standards.humanbeauty import DIMENSION_KEYS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "ImageStats",
    "RaterScreening",
    "SurealResult",
    "bt500_screening",
    "icc_1_1",
    "icc_1k",
    "image_stats",
    "inconsistency_screening",
    "krippendorff_alpha_interval",
    "rater_loo_srcc",
    "rater_loo_srcc_all",
    "rater_score_spread",
    "rating_target",
    "rating_targets",
    "reliability_report",
    "screen_raters",
    "split_half_reliability",
    "sureal_ap",
    "sureal_ap_all",
]

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
        from scipy import stats

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
    # sort by value, then a stable sort by group (radix sort for 16-bit keys): equal values stay
    # adjacent within their group; ~5x faster than np.lexsort
    order = np.argsort(values)
    key = groups[order]
    if int(key.max()) < 2**15:
        key = key.astype(np.int16)
    order = order[np.argsort(key, kind="stable")]
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
    from scipy import stats

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
# adaptive number of ratings
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

    psi: FloatArray  # [n_images] recovered quality, clipped to the scale [0, 1]
    psi_se: FloatArray  # [n_images] s_j / sqrt(n_j), s_j = sample SD of image j's residuals; NaN if n_j < 2
    psi_ci95: FloatArray  # [n_images] half-width t(0.975, n_j - 1) * psi_se; NaN if n_j < 2
    delta: FloatArray  # [n_raters] bias, mean zero over raters with ratings
    delta_se: FloatArray  # [n_raters] v_i / sqrt(n_i)
    upsilon: FloatArray  # [n_raters] inconsistency as used by the model (floored / pooled, see below)
    upsilon_ci_low: FloatArray  # [n_raters] sqrt(n_i / chi2_.975(n_i)) * upsilon
    upsilon_ci_high: FloatArray  # [n_raters] sqrt(n_i / chi2_.025(n_i)) * upsilon
    upsilon_imputed: BoolArray  # [n_raters] True where upsilon is the pooled median (n_i < min)
    upsilon_floored: BoolArray  # [n_raters] True where the estimate was raised to the floor
    upsilon_floor: float  # the floor: upsilon_floor_ratio * pooled median (NaN if no rater qualifies)
    n_per_image: IntArray
    n_per_rater: IntArray
    n_iter: int
    converged: bool


SUREAL_MAX_ITER = 1000  # the iteration budget: every bench crowd converges well inside it
SUREAL_MIN_RATINGS_FOR_UPSILON = 10
SUREAL_UPSILON_FLOOR_RATIO = 0.5


def sureal_ap(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores_1d: npt.ArrayLike,
    n_images: int,
    n_raters: int,
    *,
    max_iter: int = SUREAL_MAX_ITER,
    tol: float = 1e-8,
    min_ratings_for_upsilon: int = SUREAL_MIN_RATINGS_FOR_UPSILON,
    upsilon_floor_ratio: float = SUREAL_UPSILON_FLOOR_RATIO,
) -> SurealResult:
    """SUREAL alternating projection (P.910 Annex E / sureal ``P910AnnexEModel``), long format.

    Design note (``docs/aggregation.md``)::

        psi_j = mean_i u_ij ; b_i = mean_j (u_ij - psi_j)
        repeat: e_ij = u_ij - psi_j - b_i
                v_i  = std_j(e_ij)              (population SD per rater)
                v_i  = max(v_i, floor)          floor = ratio * median v (raters with >= min ratings)
                v_i  = median v                 for raters with < min ratings (pooled prior)
                w_i  = 1 / (v_i^2 + 1e-8)
                psi_j = sum_i w_i (u_ij - b_i) / sum_i w_i
                b_i  = mean_j (u_ij - psi_j)
        until ||psi - psi_prev||_2 < tol (max_iter; ``converged`` says which)
        shift: c = mean(b); b -= c; psi += c; psi clipped to [0, 1]

    Why the floor and the pooled prior: υ_i is estimated from residuals that contain the rater's own
    score, so a rater whose weight dominates an image pulls ψ_j towards their own score, which shrinks
    their residual, which raises their weight: the iteration can run to υ_i = 0 (weight 1e8), after which
    ψ on that rater's images is just their score. Flooring υ at half the median caps any rater's weight at
    4x the typical one and removes the fixed point; a rater with few ratings (where the collapse is most
    likely) gets the median υ instead of an estimate. ``upsilon_floor_ratio=0`` and
    ``min_ratings_for_upsilon=2`` give sureal's own behaviour (tested against a reference loop).

    Uncertainty: ``psi_se = s_j / sqrt(n_j)`` with ``s_j`` the *sample* SD (ddof 1) of image j's
    residuals from the last iteration, and ``psi_ci95 = t(0.975, n_j - 1) * psi_se``, both NaN for
    ``n_j < 2`` (like MOS's CI); sureal's population SD with z = 1.96 under-covers at k = 5-9. The υ CI is
    the chi-square interval with ``n_i`` degrees of freedom. If no rater qualifies for an estimate, all
    weights are equal (υ = 1, ψ = bias-corrected mean). Bias is identifiable only within a connected
    component of the image-rater graph; random assignment keeps the graph connected.
    """
    img, rat, s = _validate_long(image_index, scores_1d, n_images, rater_index, n_raters, ndim=1)
    assert rat is not None
    _check_sureal_options(max_iter, tol, min_ratings_for_upsilon, upsilon_floor_ratio)
    keep = ~np.isnan(s)
    order = np.argsort(img[keep], kind="stable")  # rows grouped by image -> np.add.reduceat
    return _sureal_sorted(
        img[keep][order],
        rat[keep][order],
        s[keep][order],
        n_images,
        n_raters,
        max_iter=max_iter,
        tol=tol,
        min_ratings_for_upsilon=min_ratings_for_upsilon,
        upsilon_floor_ratio=upsilon_floor_ratio,
    )


def _check_sureal_options(max_iter: int, tol: float, min_ratings: int, floor_ratio: float) -> None:
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got max_iter={max_iter}, tol={tol}")
    if min_ratings < 2:
        raise ValueError(
            f"min_ratings_for_upsilon must be >= 2 (one rating has no residual), got {min_ratings}"
        )
    if not 0.0 <= floor_ratio <= 1.0:
        raise ValueError(f"upsilon_floor_ratio must be in [0, 1], got {floor_ratio}")


def _sureal_sorted(
    j: IntArray,
    i: IntArray,
    u: FloatArray,
    n_images: int,
    n_raters: int,
    *,
    max_iter: int,
    tol: float,
    min_ratings_for_upsilon: int,
    upsilon_floor_ratio: float,
) -> SurealResult:
    """:func:`sureal_ap` on validated rows without NaN, already grouped by image (``j`` sorted).

    Design: the ratings form a sparse (image x rater) matrix ``P`` of scores and its 0/1 pattern
    ``E``, stored image-major and rater-major (CSR). An iteration is then six sparse
    matrix-vector products against short per-rater or per-image vectors and no pass of
    elementwise work over the rows (about 2x faster than gathers + ``np.bincount`` +
    ``np.add.reduceat``)::

        psi_j = (P w - E (w b))_j / (E w)_j               w_i = 1 / (v_i^2 + 1e-8)
        b_i   = (sum_j u_ij - (E^T psi)_i) / n_i
        v_i^2 = (sum_j u_ij^2 - 2 (P^T psi)_i + (E^T psi^2)_i) / n_i - b_i^2

    The one-pass variance only sets the weights, where an absolute error of ~1e-16 is nothing
    against the 1e-8 in ``w``; the reported υ and ψ's SE come from the explicit residuals
    ``e_ij = u_ij - psi_j - b_i`` of the last iteration (two-pass).
    """
    n_j = np.bincount(j, minlength=n_images)
    n_i = np.bincount(i, minlength=n_raters)
    has_j = n_j > 0
    has_i = n_i > 0
    impute = has_i & (n_i < min_ratings_for_upsilon)
    good = has_i & ~impute
    any_good = bool(good.any())
    nj_c = n_j[has_j]
    n_rated = nj_c.size
    nj_f = nj_c.astype(np.float64)
    ni_f = np.where(has_i, n_i, 1).astype(np.float64)
    ones = np.ones(u.size)
    jc = np.repeat(np.arange(n_rated), nj_c)  # compact image index of each row
    ptr_img = np.r_[0, np.cumsum(nj_c)]
    p_img = sparse.csr_matrix((u, i, ptr_img), shape=(n_rated, n_raters))
    e_img = sparse.csr_matrix((ones, i, ptr_img), shape=(n_rated, n_raters))
    by_rater = np.argsort(i.astype(np.int16) if n_raters < 2**15 else i, kind="stable")  # radix
    ptr_rat = np.r_[0, np.cumsum(n_i)]
    p_rat = sparse.csr_matrix((u[by_rater], jc[by_rater], ptr_rat), shape=(n_raters, n_rated))
    e_rat = sparse.csr_matrix((ones, jc[by_rater], ptr_rat), shape=(n_raters, n_rated))
    su = np.bincount(i, weights=u, minlength=n_raters)
    suu = np.bincount(i, weights=u * u, minlength=n_raters)

    psi_c = np.bincount(jc, weights=u, minlength=n_rated) / nj_f  # psi of rated images (compact)
    b = (su - e_rat @ psi_c) / ni_f
    psi_prev, b_prev = psi_c, b
    v = np.full(n_raters, np.nan)
    floored = np.zeros(n_raters, dtype=bool)
    floor = float("nan")

    def regularise(v: FloatArray) -> tuple[BoolArray, float]:
        """Floor the estimates of qualifying raters, give the others the pooled median (in place)."""
        if not any_good:
            v[has_i] = 1.0
            return np.zeros(n_raters, dtype=bool), float("nan")
        pooled = float(np.median(v[good]))
        low = upsilon_floor_ratio * pooled
        below = good & (v < low)
        v[below] = low
        v[impute] = pooled
        return below, low

    n_iter, converged = 0, False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        psi_prev, b_prev = psi_c, b
        ss = suu - 2.0 * (p_rat @ psi_c) + e_rat @ (psi_c * psi_c)  # sum_j (u_ij - psi_j)^2
        v = np.sqrt(np.maximum(ss / ni_f - b * b, 0.0))
        regularise(v)
        w = 1.0 / (v * v + _AP_EPSILON)
        psi_c = (p_img @ w - e_img @ (w * b)) / (e_img @ w)
        b = (su - e_rat @ psi_c) / ni_f
        step = psi_c - psi_prev
        if float(np.sqrt(np.sum(step * step))) < tol:  # L2 norm (np.linalg.norm goes through BLAS)
            converged = True
            break
    # residuals of the last iteration (psi, b at its start), two-pass
    e = u - psi_prev[jc] - b_prev[i]
    if n_iter:
        mean_e = np.bincount(i, weights=e, minlength=n_raters) / ni_f
        v = np.sqrt(np.maximum(np.bincount(i, weights=e * e, minlength=n_raters) / ni_f - mean_e**2, 0.0))
        floored, floor = regularise(v)
    v[~has_i] = np.nan
    b[~has_i] = np.nan
    psi = np.full(n_images, np.nan)
    psi[has_j] = psi_c

    _, s_j, _ = _group_mean_sd(j, e, n_images, ddof=1)  # sample SD of image j's residuals (NaN if n_j < 2)
    psi_se = s_j / np.sqrt(np.where(has_j, n_j, 1))
    psi_ci = _t975(n_j - 1) * psi_se
    delta_se = v / np.sqrt(ni_f)

    c = float(b[has_i].mean()) if has_i.any() else 0.0
    b = b - c
    psi = np.clip(psi + c, 0.0, 1.0)  # NaN stays NaN

    lo_f = np.full(n_raters, np.nan)
    hi_f = np.full(n_raters, np.nan)
    if has_i.any():
        from scipy import stats

        uniq, inv = np.unique(n_i[has_i], return_inverse=True)
        lo_f[has_i] = np.sqrt(uniq / stats.chi2.ppf(0.975, uniq))[inv]
        hi_f[has_i] = np.sqrt(uniq / stats.chi2.ppf(0.025, uniq))[inv]
    v_out = np.where(has_i, v, np.nan)
    return SurealResult(
        psi=psi,
        psi_se=psi_se,
        psi_ci95=psi_ci,
        delta=b,
        delta_se=delta_se,
        upsilon=v_out,
        upsilon_ci_low=lo_f * v_out,
        upsilon_ci_high=hi_f * v_out,
        upsilon_imputed=impute,
        upsilon_floored=floored,
        upsilon_floor=floor,
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
    max_iter: int = SUREAL_MAX_ITER,
    tol: float = 1e-8,
    min_ratings_for_upsilon: int = SUREAL_MIN_RATINGS_FOR_UPSILON,
    upsilon_floor_ratio: float = SUREAL_UPSILON_FLOOR_RATIO,
) -> list[SurealResult]:
    """:func:`sureal_ap` for each column of ``scores [R, D]`` (one model per dimension).

    The rows are validated and grouped by image once for all dimensions; each dimension then
    drops its NaN rows (a stable sort keeps the grouping) and runs its own fit.
    """
    img, rat, s = _validate_long(image_index, scores, n_images, rater_index, n_raters, ndim=2)
    assert rat is not None
    _check_sureal_options(max_iter, tol, min_ratings_for_upsilon, upsilon_floor_ratio)
    order = np.argsort(img, kind="stable")
    j_all, i_all, s_sorted = img[order], rat[order], s[order]
    results = []
    for k in range(s.shape[1]):
        col = s_sorted[:, k]
        keep = ~np.isnan(col)
        j, i, u = (j_all, i_all, col) if keep.all() else (j_all[keep], i_all[keep], col[keep])
        results.append(
            _sureal_sorted(
                j,
                i,
                np.ascontiguousarray(u),
                n_images,
                n_raters,
                max_iter=max_iter,
                tol=tol,
                min_ratings_for_upsilon=min_ratings_for_upsilon,
                upsilon_floor_ratio=upsilon_floor_ratio,
            )
        )
    return results


# --------------------------------------------------------------------------------------------
# rater screening (reports, never automatic bans)
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
    recommended for sparse designs) uses N_i = evaluable presentations rater i scored;
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
    n_p_groups = (int(img.max()) + 1) * d if img.size else 0  # one slot per (image, dimension)
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
        # share over the presentations with at least one score (empty slots do not count)
        "share_normal_kurtosis": float(np.sum((beta2 >= 2) & (beta2 <= 4)) / np.count_nonzero(n))
        if n_eval
        else None,
        "P": P.tolist(),
        "Q": Q.tolist(),
        "N": N_i.tolist(),
        "outlier_rate": _json_list(rate),
        "asymmetry": _json_list(asym),
        "rejected": rejected.tolist(),
    }


def inconsistency_screening(
    upsilon: npt.ArrayLike,
    upsilon_ci_low: npt.ArrayLike | None = None,
    *,
    ratio: float = 2.0,
) -> IntArray:
    """Indices of raters whose inconsistency is significantly above the crowd's: the lower 95 % bound of
    υ_i (or υ_i itself when no bound is given) exceeds ``ratio`` x the median of the finite υ values.

    A relative test, not a quota: a clean crowd gets (almost) no flags, a crowd with many noisy raters
    gets all of them while they stay a minority. See :func:`screen_raters` for the full per-rater report.
    """
    v = np.asarray(upsilon, dtype=np.float64)
    low = v if upsilon_ci_low is None else np.asarray(upsilon_ci_low, dtype=np.float64)
    if low.shape != v.shape:
        raise ValueError(f"upsilon and upsilon_ci_low differ in shape: {v.shape} vs {low.shape}")
    finite = np.isfinite(v) & np.isfinite(low)
    if not finite.any():
        return np.zeros(0, dtype=np.int64)
    cut = ratio * float(np.median(v[finite]))
    return np.flatnonzero(finite & (low > cut)).astype(np.int64)


@dataclass(frozen=True)
class RaterScreening:
    """Per-rater screening report from :func:`screen_raters`; every array is ``[n_raters]``.

    ``evaluated`` is False for raters with fewer than ``min_ratings`` ratings (not tested, never flagged).
    ``inconsistent``: the lower 95 % bound of υ_i (mean over dimensions) is above
    ``upsilon_threshold = inconsistency_ratio x median υ``. ``low_agreement``: the LOO SRCC (mean over
    dimensions) is below ``loo_threshold = loo_ratio x median LOO SRCC`` (not applied when that median
    is <= 0: a crowd without agreement cannot rank its raters). ``narrow_range``: the SD of the rater's
    own scores is below ``spread_ratio x`` the median rater's: a descriptive hint for straight-lining,
    not a flag by itself (a rater who uses a narrow range but ranks well is informative).
    """

    evaluated: BoolArray
    upsilon: FloatArray
    upsilon_low: FloatArray
    upsilon_median: float
    upsilon_threshold: float
    inconsistent: BoolArray
    loo_srcc: FloatArray
    loo_median: float
    loo_threshold: float
    low_agreement: BoolArray
    spread: FloatArray
    spread_median: float
    narrow_range: BoolArray

    @property
    def flagged(self) -> BoolArray:
        return self.inconsistent | self.low_agreement

    def pattern(self, rater: int) -> str | None:
        """A name for what a flagged rater looks like, or None."""
        if not self.flagged[rater]:
            return None
        if self.low_agreement[rater] and self.narrow_range[rater]:
            return "straight-lining"
        if self.low_agreement[rater] and self.inconsistent[rater]:
            return "random clicking"
        return "noisy" if self.inconsistent[rater] else "low agreement"

    def reasons(self, rater: int) -> list[str]:
        """Human-readable reasons, with the numbers, for each rule that flagged ``rater``."""
        out = []
        if self.inconsistent[rater]:
            out.append(
                f"inconsistent: υ {self.upsilon[rater]:.3f} (95 % lower bound {self.upsilon_low[rater]:.3f}) "
                f"above {self.upsilon_threshold:.3f} = {self.upsilon_threshold / self.upsilon_median:.1f} x "
                f"the median υ {self.upsilon_median:.3f}"
            )
        if self.low_agreement[rater]:
            out.append(
                f"low agreement: LOO SRCC {self.loo_srcc[rater]:.2f} below {self.loo_threshold:.2f} = "
                f"{self.loo_threshold / self.loo_median:.1f} x the "
                f"median {self.loo_median:.2f}"
            )
        pattern = self.pattern(rater)
        if pattern == "straight-lining":
            out.append(
                f"looks like straight-lining: own score SD {self.spread[rater]:.3f} vs median "
                f"{self.spread_median:.3f}"
            )
        elif pattern == "random clicking":
            out.append("looks like random clicking: inconsistent and unrelated to the other raters")
        return out


def rater_score_spread(rater_index: npt.ArrayLike, scores: npt.ArrayLike, n_raters: int) -> FloatArray:
    """Per rater, the SD of their own scores per dimension (ddof 1), averaged over dimensions -> ``[n_raters]``
    (NaN for raters with < 2 scores in every dimension)."""
    s = _as_scores(scores)
    if s.ndim == 1:
        s = s[:, None]
    rat = _as_index("rater_index", rater_index, n_raters, s.shape[0])
    d = s.shape[1]
    if d == 0:
        return np.full(n_raters, np.nan)
    mask = ~np.isnan(s)
    flat = (rat[:, None] * d + np.arange(d, dtype=np.int64))[mask]
    _, sd, _ = _group_mean_sd(flat, s[mask], n_raters * d, ddof=1)
    sd = sd.reshape(n_raters, d)
    ok = np.isfinite(sd)
    return _safe_div(np.where(ok, sd, 0.0).sum(axis=1), ok.sum(axis=1))


def _row_nanmean(a: FloatArray) -> FloatArray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return a
    ok = np.isfinite(a)
    return _safe_div(np.where(ok, a, 0.0).sum(axis=1), ok.sum(axis=1))


def screen_raters(
    upsilon: npt.ArrayLike,
    upsilon_ci_low: npt.ArrayLike,
    loo_srcc: npt.ArrayLike,
    spread: npt.ArrayLike,
    n_ratings: npt.ArrayLike,
    *,
    min_ratings: int = SUREAL_MIN_RATINGS_FOR_UPSILON,
    inconsistency_ratio: float = 2.0,
    loo_ratio: float = 0.5,
    spread_ratio: float = 0.5,
) -> RaterScreening:
    """Relative screening of raters by two tests, each reported with its reason (no fixed quota).

    Inputs per rater: υ and its lower 95 % bound (``[n_raters]`` or ``[n_raters, D]``, averaged over
    dimensions), the LOO SRCC (same), the spread of their own scores (:func:`rater_score_spread`) and their
    number of ratings. The medians are taken over the evaluated raters (``n_ratings >= min_ratings``), so
    the rules hold while bad raters are a minority; against a crowd that is mostly bad only hidden gold
    helps. Design and measured precision/recall: ``docs/aggregation.md``.
    """
    if inconsistency_ratio <= 1.0 or not 0.0 < loo_ratio < 1.0 or not 0.0 < spread_ratio < 1.0:
        raise ValueError("need inconsistency_ratio > 1 and loo_ratio, spread_ratio in (0, 1)")
    v, low, loo = _row_nanmean(upsilon), _row_nanmean(upsilon_ci_low), _row_nanmean(loo_srcc)
    sp = np.asarray(spread, dtype=np.float64)
    n = np.asarray(n_ratings, dtype=np.int64)
    if not (v.shape == low.shape == loo.shape == sp.shape == n.shape) or v.ndim != 1:
        raise ValueError("upsilon, upsilon_ci_low, loo_srcc, spread and n_ratings must cover the same raters")
    evaluated = n >= min_ratings

    def median_over(x: FloatArray) -> float:
        ok = evaluated & np.isfinite(x)
        return float(np.median(x[ok])) if ok.any() else float("nan")

    v_med, loo_med, sp_med = median_over(v), median_over(loo), median_over(sp)
    v_cut = inconsistency_ratio * v_med
    loo_cut = loo_ratio * loo_med if loo_med > 0 else float("nan")
    sp_cut = spread_ratio * sp_med
    with np.errstate(invalid="ignore"):
        inconsistent = evaluated & np.isfinite(low) & (low > v_cut)
        low_agreement = evaluated & np.isfinite(loo) & (loo < loo_cut)
        narrow = evaluated & np.isfinite(sp) & (sp < sp_cut)
    return RaterScreening(
        evaluated=evaluated,
        upsilon=v,
        upsilon_low=low,
        upsilon_median=v_med,
        upsilon_threshold=v_cut,
        inconsistent=inconsistent,
        loo_srcc=loo,
        loo_median=loo_med,
        loo_threshold=loo_cut,
        low_agreement=low_agreement,
        spread=sp,
        spread_median=sp_med,
        narrow_range=narrow,
    )


# --------------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------------


def _average_ranks(a: FloatArray) -> FloatArray:
    """Average (1-based) ranks along the last axis of ``a [D, n]``, ties averaged; NaN ranks last.

    Same as ``scipy.stats.rankdata(a, axis=-1)`` on finite data. One argsort; a tie run that
    starts at position ``s`` (0-based, within its row) and has length ``L`` gets
    ``s + (L + 1) / 2``. Runs never cross rows.
    """
    d, n = a.shape
    if a.size == 0:
        return np.zeros((d, n))
    order = np.argsort(a, axis=-1)
    flat = (order + (np.arange(d) * n)[:, None]).ravel()
    sv = a.ravel()[flat]
    new = np.empty(sv.size, dtype=bool)
    new[0] = True
    np.not_equal(sv[1:], sv[:-1], out=new[1:])
    new[::n] = True
    start = np.flatnonzero(new)
    length = np.diff(np.r_[start, sv.size])
    out = np.empty(sv.size)
    out[flat] = np.repeat(start % n + (length + 1) / 2.0, length)
    return out.reshape(d, n)


def _masked_pearson(x: FloatArray, y: FloatArray, valid: BoolArray) -> FloatArray:
    """Pearson r per row of ``x, y [D, n]`` over the ``valid`` cells (NaN for < 3, 0 if constant)."""
    n = valid.sum(axis=1)
    nf = np.maximum(n, 1)
    dx = np.where(valid, x - (np.where(valid, x, 0.0).sum(axis=1) / nf)[:, None], 0.0)
    dy = np.where(valid, y - (np.where(valid, y, 0.0).sum(axis=1) / nf)[:, None], 0.0)
    sxy, sxx, syy = (dx * dy).sum(axis=1), (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
    den = np.sqrt(sxx * syy)
    r = np.clip(np.where(den > 0, sxy / np.where(den > 0, den, 1.0), 0.0), -1.0, 1.0)
    r[n < 3] = np.nan
    return r


def _split_half_multi(
    img: IntArray, s: FloatArray, *, n_splits: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Mean split-half SRCC per column of ``s [R, D]``; the same random split serves every column.

    Design: only images with >= 2 ratings take part. The rows are laid out once image by image,
    the images ordered by their number of ratings m (the SRCC does not depend on the order of
    the images), so the images with m ratings form one ``[c, m]`` block. Per split and block, an
    argsort of ``[c, m]`` uniform keys along the rows is a random permutation of each image's
    ratings; its first ``m // 2`` entries form half A (a uniformly random subset). One sparse 0/1
    (image x row) matrix times the ``[R, 2D]`` block of scores and counts gives the half-A sums;
    half B is the image total minus half A. The SRCC per column is taken over images whose two
    halves both have a score in that column (ranks from :func:`_average_ranks`, NaN last).
    """
    d = s.shape[1]
    if img.size:
        keep = np.bincount(img)[img] >= 2
        img, s = img[keep], s[keep]
    if img.size == 0:
        return np.full(d, np.nan), np.full(d, np.nan)
    _, img = np.unique(img, return_inverse=True)
    n_j = np.bincount(img)
    n_img = n_j.size
    img_order = np.argsort(n_j, kind="stable")  # images by number of ratings
    slot = np.empty(n_img, np.int64)
    slot[img_order] = np.arange(n_img)
    rows = np.argsort(slot[img], kind="stable")  # rows block by block, image by image
    m_sorted = n_j[img_order]
    start = np.cumsum(m_sorted) - m_sorted  # first row of each image (in block layout)
    half = m_sorted // 2
    ptr_a = np.r_[0, np.cumsum(half)]
    sizes, first = np.unique(m_sorted, return_index=True)
    counts = np.diff(np.r_[first, n_img])
    mask = ~np.isnan(s[rows])
    x = np.concatenate([np.where(mask, s[rows], 0.0), mask.astype(np.float64)], axis=1)  # [R, 2D]
    total = np.add.reduceat(x, start, axis=0)  # [n_img, 2D]
    ones_a = np.ones(int(ptr_a[-1]))
    idx_a = np.empty(int(ptr_a[-1]), np.int64)
    srcc = np.zeros((n_splits, d))
    for k in range(n_splits):
        for m, i0, c in zip(sizes.tolist(), first.tolist(), counts.tolist(), strict=True):
            h = m // 2
            pick = np.argsort(rng.random((c, m)), axis=1)[:, :h]
            idx_a[ptr_a[i0] : ptr_a[i0] + c * h] = (start[i0 : i0 + c, None] + pick).ravel()
        m_a = sparse.csr_matrix((ones_a, idx_a, ptr_a), shape=(n_img, x.shape[0]))
        half_a = m_a @ x
        half_b = total - half_a
        mos_a = _safe_div(half_a[:, :d].T, half_a[:, d:].T)  # [D, n_img]
        mos_b = _safe_div(half_b[:, :d].T, half_b[:, d:].T)
        both = ~(np.isnan(mos_a) | np.isnan(mos_b))
        # NaN sorts last, so the ranks of the valid cells are 1..n_valid within each dimension.
        ra = _average_ranks(np.where(both, mos_a, np.nan))
        rb = _average_ranks(np.where(both, mos_b, np.nan))
        srcc[k] = _masked_pearson(ra, rb, both)
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


@dataclass(frozen=True)
class _Agreement:
    """ICC(1,1), ICC(1,k), Krippendorff's α (interval) and counts per column, all ``[D]``."""

    icc_1_1: FloatArray
    icc_1k: FloatArray
    alpha: FloatArray
    n_ratings: IntArray
    n_images: IntArray


def _agreement(img: IntArray, s: FloatArray) -> _Agreement:
    """One-way ANOVA and Krippendorff's α for every column of ``s [R, D]`` in one pass.

    Design: per (image, column) counts, sums and within sums of squares come from three flat
    ``np.bincount`` calls over ``image * D + column`` (NaN cells weigh 0); everything else is
    ``[n_images, D]`` or ``[R, D]`` array arithmetic. Formulas in :func:`icc_1_1`,
    :func:`icc_1k` and :func:`krippendorff_alpha_interval`.
    """
    d = s.shape[1]
    nan = np.full(d, np.nan)
    if img.size == 0:
        return _Agreement(nan, nan.copy(), nan.copy(), np.zeros(d, np.int64), np.zeros(d, np.int64))
    n_slots = int(img.max()) + 1
    size = n_slots * d
    mask = ~np.isnan(s)
    x = np.where(mask, s, 0.0)
    flat = (img[:, None] * d + np.arange(d, dtype=np.int64)).ravel()
    n = np.bincount(flat, weights=mask.ravel(), minlength=size).reshape(n_slots, d)
    tot = np.bincount(flat, weights=x.ravel(), minlength=size).reshape(n_slots, d)
    mean_u = _safe_div(tot, n)
    dev = np.where(mask, x - mean_u[img], 0.0)
    ss_u = np.bincount(flat, weights=(dev * dev).ravel(), minlength=size).reshape(n_slots, d)
    has = n > 0
    total = n.sum(axis=0)
    n_groups = has.sum(axis=0)

    # one-way ANOVA, images as groups (unbalanced)
    with np.errstate(divide="ignore", invalid="ignore"):
        grand = tot.sum(axis=0) / total
        ss_b = np.where(has, n * (np.where(has, mean_u, 0.0) - grand) ** 2, 0.0).sum(axis=0)
        ms_b = ss_b / (n_groups - 1)
        ms_w = ss_u.sum(axis=0) / (total - n_groups)
        n0 = (total - (n * n).sum(axis=0) / total) / (n_groups - 1)
    anova_ok = (n_groups >= 2) & (total > n_groups)
    ms_b, ms_w, n0 = (np.where(anova_ok, a, np.nan) for a in (ms_b, ms_w, n0))
    den = ms_b + (n0 - 1) * ms_w
    icc11 = np.where(np.isfinite(den) & (den > 0), (ms_b - ms_w) / np.where(den > 0, den, 1.0), np.nan)
    icc1k = np.where(np.isfinite(ms_b) & (ms_b > 0), (ms_b - ms_w) / np.where(ms_b > 0, ms_b, 1.0), np.nan)

    # Krippendorff's alpha over pairable units (m_u >= 2)
    pair = n >= 2
    cell = mask & pair[img]
    m_p = np.where(pair, n, 0.0)
    n_p = m_p.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_o = np.where(pair, m_p * ss_u / np.where(pair, m_p - 1, 1.0), 0.0).sum(axis=0)
        grand_p = np.where(pair, tot, 0.0).sum(axis=0) / n_p
    g = np.where(cell, x - grand_p, 0.0)
    ss_tot = (g * g).sum(axis=0)
    flat_values = np.where(cell, x, np.inf).min(axis=0) >= np.where(cell, x, -np.inf).max(axis=0)
    alpha_ok = (n_p >= 2) & ~flat_values & (ss_tot > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(alpha_ok, 1.0 - (n_p - 1) / n_p * d_o / ss_tot, np.nan)
    return _Agreement(icc11, icc1k, alpha, mask.sum(axis=0), n_groups.astype(np.int64))


def _agreement_1d(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> _Agreement:
    img, _, s = _validate_long(image_index, scores_1d, None, ndim=1)
    return _agreement(img, s[:, None])


def icc_1_1(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> float:
    """ICC(1,1), one-way random, unbalanced: ``(MS_B - MS_W) / (MS_B + (n0 - 1) MS_W)``.

    ``MS_B = sum n_j (mean_j - mean)^2 / (J - 1)``, ``MS_W = sum (y - mean_j)^2 / (N - J)``,
    ``n0 = (N - sum n_j^2 / N) / (J - 1)``; NaN with fewer than 2 images or ``N <= J``.
    """
    return float(_agreement_1d(image_index, scores_1d).icc_1_1[0])


def icc_1k(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> float:
    """ICC(1,k), reliability of the per-image mean: ``(MS_B - MS_W) / MS_B``."""
    return float(_agreement_1d(image_index, scores_1d).icc_1k[0])


def krippendorff_alpha_interval(image_index: npt.ArrayLike, scores_1d: npt.ArrayLike) -> float:
    """Krippendorff's alpha, interval metric, closed form in O(R).

    ``alpha = 1 - (N-1)/N * sum_u[m_u SS_u / (m_u - 1)] / SS_tot`` over units (images) with
    ``m_u >= 2`` pairable values, ``N = sum m_u``, ``SS_u`` the within-unit sum of squares and
    ``SS_tot`` the sum of squares of all pairable values about their grand mean. Equivalent to
    the coincidence-matrix definition (no value-by-value matrix). NaN if no variation.
    """
    return float(_agreement_1d(image_index, scores_1d).alpha[0])


def _loo_srcc(img: IntArray, rat: IntArray, s: FloatArray, n_raters: int, min_items: int) -> FloatArray:
    """Per-rater LOO SRCC for every column of validated ``s [R, D]`` -> ``[n_raters, D]``."""
    d = s.shape[1]
    out = np.full((n_raters, d), np.nan)
    if img.size == 0:
        return out
    n_slots = int(img.max()) + 1
    for k in range(d):
        col = s[:, k]
        keep = ~np.isnan(col)
        j, i, u = img[keep], rat[keep], col[keep]
        n_j = np.bincount(j, minlength=n_slots)
        sum_j = np.bincount(j, weights=u, minlength=n_slots)
        other = n_j[j] - 1
        ok = other > 0
        j, i, u, other = j[ok], i[ok], u[ok], other[ok]
        loo = (sum_j[j] - u) / other
        r = _grouped_pearson(i, _rank_within(i, u), _rank_within(i, loo), n_raters)
        enough = np.bincount(i, minlength=n_raters) >= max(min_items, 2)
        out[enough, k] = r[enough]
    return out


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
    ranks within rater via one argsort plus a stable radix sort, then a grouped Pearson.
    """
    img, rat, s = _validate_long(image_index, scores_1d, None, rater_index, n_raters, ndim=1)
    assert rat is not None
    return _loo_srcc(img, rat, s[:, None], n_raters, min_items)[:, 0]


def rater_loo_srcc_all(
    image_index: npt.ArrayLike,
    rater_index: npt.ArrayLike,
    scores: npt.ArrayLike,
    n_raters: int,
    *,
    min_items: int = 5,
) -> FloatArray:
    """:func:`rater_loo_srcc` for every column of ``scores [R, D]`` -> ``[n_raters, D]``."""
    img, rat, s = _validate_long(image_index, scores, None, rater_index, n_raters, ndim=2)
    assert rat is not None
    return _loo_srcc(img, rat, s, n_raters, min_items)


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

    Keys are the dimension keys of :mod:`annotation.standards.humanbeauty` when D == 12. JSON-serialisable
    (NaN -> None).
    """
    img, _, s = _validate_long(image_index, scores, None, rater_index, None)
    if s.ndim == 1:
        s = s[:, None]
    keys = _dimension_keys(s.shape[1], dimension_keys)
    r_mean, sb = _split_half_multi(img, s, n_splits=n_splits, rng=_rng(rng))
    agree = _agreement(img, s)

    def _f(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    return {
        key: {
            "n_ratings": int(agree.n_ratings[col]),
            "n_images": int(agree.n_images[col]),
            "split_half_srcc": _f(r_mean[col]),
            "spearman_brown": _f(sb[col]),
            "icc_1_1": _f(agree.icc_1_1[col]),
            "icc_1k": _f(agree.icc_1k[col]),
            "krippendorff_alpha": _f(agree.alpha[col]),
        }
        for col, key in enumerate(keys)
    }
