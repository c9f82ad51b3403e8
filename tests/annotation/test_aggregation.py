"""Tests of annotation.aggregation (pure numpy; run with ``-p no:django``)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from annotation import aggregation as agg

# ---------------------------------------------------------------------------- strategies


@st.composite
def long_ratings(
    draw: st.DrawFn, *, max_images: int = 6, max_rows: int = 30, max_dims: int = 3, nan: bool = True
):
    """(image_index, rater_index, scores [R, D], n_images, n_raters) in long format."""
    n_images = draw(st.integers(1, max_images))
    n_raters = draw(st.integers(1, 8))
    r = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_dims))
    img = draw(hnp.arrays(np.int64, r, elements=st.integers(0, n_images - 1)))
    rat = draw(hnp.arrays(np.int64, r, elements=st.integers(0, n_raters - 1)))
    values = st.one_of(
        st.floats(0.0, 1.0),
        st.sampled_from([0.0, 1.0, 5e-324, 1e-300, 1.0 - 2**-53, 0.1, 0.3]),
    )
    if nan:
        values = st.one_of(values, st.just(float("nan")))
    scores = draw(hnp.arrays(np.float64, (r, d), elements=values))
    return img, rat, scores, n_images, n_raters


def _group_minmax(img: np.ndarray, scores: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full((n_images, scores.shape[1]), np.nan)
    hi = np.full((n_images, scores.shape[1]), np.nan)
    for j in range(n_images):
        block = scores[img == j]
        for k in range(scores.shape[1]):
            col = block[:, k][~np.isnan(block[:, k])]
            if col.size:
                lo[j, k], hi[j, k] = col.min(), col.max()
    return lo, hi


# ---------------------------------------------------------------------------- image_stats


@given(long_ratings(), st.randoms(use_true_random=False))
def test_image_stats_row_permutation_invariant(data, rnd) -> None:
    img, _, scores, n_images, _ = data
    perm = np.array(rnd.sample(range(img.size), img.size))
    a = agg.image_stats(img, scores, n_images)
    b = agg.image_stats(img[perm], scores[perm], n_images)
    np.testing.assert_array_equal(a.n, b.n)
    np.testing.assert_allclose(a.mos, b.mos, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.sd, b.sd, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.ci_half_width, b.ci_half_width, rtol=0, atol=1e-8)


@given(long_ratings())
def test_mos_within_bounds_and_nan_pattern(data) -> None:
    img, _, scores, n_images, _ = data
    res = agg.image_stats(img, scores, n_images)
    lo, hi = _group_minmax(img, scores, n_images)
    has = res.n > 0
    assert np.all(res.mos[has] >= lo[has]) and np.all(res.mos[has] <= hi[has])
    assert np.isnan(res.mos[~has]).all()
    assert np.isnan(res.sd[res.n < 2]).all() and np.isnan(res.ci_half_width[res.n < 2]).all()
    assert np.all(res.sd[res.n >= 2] >= 0)


@given(long_ratings(nan=False), st.floats(0.01, 1.0), st.floats(0.0, 1.0))
def test_affine_equivariance(data, a, frac) -> None:
    img, _, scores, n_images, _ = data
    b = frac * (1.0 - a)
    base = agg.image_stats(img, scores, n_images)
    moved = agg.image_stats(img, np.clip(a * scores + b, 0.0, 1.0), n_images)
    np.testing.assert_allclose(moved.mos, a * base.mos + b, atol=1e-12)
    np.testing.assert_allclose(moved.sd, a * base.sd, atol=1e-9)


@given(long_ratings(), st.data())
def test_removing_a_rater_changes_only_their_images(data, extra) -> None:
    img, rat, scores, n_images, n_raters = data
    victim = extra.draw(st.integers(0, n_raters - 1))
    full = agg.image_stats(img, scores, n_images)
    keep = rat != victim
    reduced = agg.image_stats(img[keep], scores[keep], n_images)
    untouched = np.setdiff1d(np.arange(n_images), img[~keep])
    np.testing.assert_array_equal(full.n[untouched], reduced.n[untouched])
    np.testing.assert_allclose(full.mos[untouched], reduced.mos[untouched], atol=1e-12)
    np.testing.assert_allclose(full.sd[untouched], reduced.sd[untouched], atol=1e-9)


@given(long_ratings())
def test_nan_cells_equal_dropping_them_per_dimension(data) -> None:
    img, _, scores, n_images, _ = data
    res = agg.image_stats(img, scores, n_images)
    for k in range(scores.shape[1]):
        ok = ~np.isnan(scores[:, k])
        one = agg.image_stats(img[ok], scores[ok, k][:, None], n_images)
        np.testing.assert_array_equal(one.n[:, 0], res.n[:, k])
        np.testing.assert_allclose(one.mos[:, 0], res.mos[:, k], atol=1e-12)


def test_extreme_values_and_huge_r_do_not_overflow() -> None:
    r = 2_000_000
    img = np.zeros(r, dtype=np.int64)
    ones = agg.image_stats(img, np.ones((r, 1)), 1)
    assert ones.mos[0, 0] == 1.0 and ones.sd[0, 0] == 0.0 and ones.ci_half_width[0, 0] == 0.0
    tiny = agg.image_stats(img[:1000], np.full((1000, 1), 5e-324), 1)
    assert tiny.mos[0, 0] == 5e-324
    near = agg.image_stats(np.zeros(3, np.int64), np.full((3, 1), 0.1), 1)
    assert near.mos[0, 0] == 0.1  # (0.1 + 0.1 + 0.1) / 3 > 0.1 in floating point: clipped
    mixed = agg.image_stats(np.zeros(4, np.int64), np.array([[0.0], [1.0], [0.0], [1.0]]), 1)
    assert mixed.mos[0, 0] == 0.5
    assert mixed.sd[0, 0] == pytest.approx(np.std([0, 1, 0, 1], ddof=1))


def test_image_stats_hand_computed() -> None:
    img = np.array([0, 0, 0, 1, 1, 2])
    scores = np.array([[0.2, np.nan], [0.4, 0.5], [0.6, 0.7], [0.3, 0.3], [0.5, np.nan], [np.nan, np.nan]])
    res = agg.image_stats(img, scores, 4)
    assert res.mos[0, 0] == pytest.approx(0.4) and res.sd[0, 0] == pytest.approx(0.2)
    assert res.ci_half_width[0, 0] == pytest.approx(4.302652729911275 * 0.2 / np.sqrt(3))
    assert res.mos[0, 1] == pytest.approx(0.6) and res.n[0, 1] == 2
    assert res.ci_half_width[0, 1] == pytest.approx(12.706204736174698 * np.sqrt(0.02) / np.sqrt(2))
    assert res.mos[1, 1] == pytest.approx(0.3) and np.isnan(res.sd[1, 1])
    assert res.n[2].tolist() == [0, 0] and np.isnan(res.mos[2]).all() and np.isnan(res.mos[3]).all()
    assert res.max_ci_half_width[0] == pytest.approx(max(res.ci_half_width[0]))
    assert np.isnan(res.max_ci_half_width[3])


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([[np.inf]], "inf"),
        ([[1.5]], "out of range"),
        ([[-0.01]], "out of range"),
    ],
)
def test_image_stats_rejects_bad_scores(scores, message) -> None:
    with pytest.raises(ValueError, match=message):
        agg.image_stats(np.array([0]), np.array(scores), 1)


def test_image_stats_rejects_bad_indices() -> None:
    with pytest.raises(ValueError, match="image_index out of range"):
        agg.image_stats(np.array([3]), np.array([[0.5]]), 2)
    with pytest.raises(ValueError, match="length"):
        agg.image_stats(np.array([0, 1]), np.array([[0.5]]), 2)


# ---------------------------------------------------------------------------- rating target


@pytest.mark.parametrize(
    ("n", "ci", "target"),
    [
        (0, np.nan, 9),
        (5, 0.5, 9),
        (9, 0.10, 9),
        (9, 0.15, 9),
        (9, 0.16, 12),
        (10, 0.16, 12),
        (11, 0.20, 12),
        (12, 0.16, 15),
        (12, 0.10, 12),
        (14, 0.30, 15),
        (15, 0.30, 15),
        (17, 0.30, 17),
        (9, np.nan, 9),
    ],
)
def test_rating_target(n, ci, target) -> None:
    assert agg.rating_target(n, ci) == target


def test_rating_targets_vectorised_matches_scalar() -> None:
    n = np.arange(0, 20)
    ci = np.where(n % 2 == 0, 0.2, 0.1)
    vec = agg.rating_targets(n, ci)
    assert vec.tolist() == [agg.rating_target(int(a), float(b)) for a, b in zip(n, ci, strict=True)]
    with pytest.raises(ValueError, match="cap >= base"):
        agg.rating_targets(n, ci, base=9, cap=6)


# ---------------------------------------------------------------------------- SUREAL


def _simulate_ap(seed: int = 0):
    rng = np.random.default_rng(seed)
    n_images, n_raters, k = 300, 40, 9
    psi = rng.uniform(0.2, 0.8, n_images)
    delta = rng.normal(0.0, 0.06, n_raters)
    delta -= delta.mean()
    ups = rng.uniform(0.06, 0.16, n_raters)
    ups[:3] = 0.45
    img = np.repeat(np.arange(n_images), k)
    rat = np.argpartition(rng.random((n_images, n_raters)), k, axis=1)[:, :k].ravel()
    u = np.clip(psi[img] + delta[rat] + ups[rat] * rng.standard_normal(img.size), 0.0, 1.0)
    return img, rat, u, psi, delta, ups, n_images, n_raters


def test_sureal_recovers_simulated_parameters() -> None:
    img, rat, u, psi, delta, ups, n_images, n_raters = _simulate_ap()
    res = agg.sureal_ap(img, rat, u, n_images, n_raters)
    assert res.converged
    assert np.corrcoef(res.upsilon, ups)[0, 1] > 0.9
    assert np.corrcoef(res.delta, delta)[0, 1] > 0.9
    mos = agg.image_stats(img, u, n_images).mos[:, 0]
    rmse_ap = np.sqrt(np.mean((res.psi - psi) ** 2))
    rmse_mos = np.sqrt(np.mean((mos - psi) ** 2))
    assert rmse_ap < rmse_mos
    assert abs(res.delta.mean()) < 1e-12  # mean-bias shift
    assert agg.inconsistency_screening(res.upsilon, res.upsilon_ci_low).tolist() == [0, 1, 2]
    assert np.all(res.upsilon_ci_low < res.upsilon) and np.all(res.upsilon < res.upsilon_ci_high)
    t = stats.t.ppf(0.975, res.n_per_image - 1)
    assert np.all(res.psi_ci95 > 0) and np.allclose(res.psi_ci95, t * res.psi_se)


def test_sureal_exact_on_noiseless_additive_data() -> None:
    psi = np.array([0.2, 0.5, 0.7, 0.4])
    delta = np.array([-0.1, 0.0, 0.05, 0.05])
    img, rat = (a.ravel() for a in np.meshgrid(np.arange(4), np.arange(4), indexing="ij"))
    u = psi[img] + delta[rat]
    res = agg.sureal_ap(img, rat, u, 4, 4)
    np.testing.assert_allclose(res.psi, psi, atol=1e-9)
    np.testing.assert_allclose(res.delta, delta, atol=1e-9)


def test_sureal_single_rating_raters_and_missing_entities_are_finite() -> None:
    img, rat, u, _, _, _, n_images, n_raters = _simulate_ap(1)
    # two extra raters with one rating each, one rater (index n_raters + 2) with none, one empty image
    img2 = np.r_[img, 0, 1]
    rat2 = np.r_[rat, n_raters, n_raters + 1]
    u2 = np.r_[u, 1.0, 0.0]
    res = agg.sureal_ap(img2, rat2, u2, n_images + 1, n_raters + 3)
    rated = res.n_per_rater > 0
    for arr in (res.upsilon, res.delta, res.upsilon_ci_low, res.upsilon_ci_high, res.delta_se):
        assert np.isfinite(arr[rated]).all() and np.isnan(arr[~rated]).all()
    assert res.upsilon_imputed[n_raters] and res.upsilon_imputed[n_raters + 1]
    assert np.isfinite(res.psi[:n_images]).all() and np.isnan(res.psi[n_images])
    # the lone extreme rating must not take over image 0
    base = agg.sureal_ap(img, rat, u, n_images, n_raters)
    assert abs(res.psi[0] - base.psi[0]) < 0.1


def test_sureal_handles_nan_and_all_dims() -> None:
    img, rat, u, _, _, _, n_images, n_raters = _simulate_ap(2)
    scores = np.c_[u, u[::-1].copy()]
    scores[::7, 1] = np.nan
    results = agg.sureal_ap_all(img, rat, scores, n_images, n_raters)
    assert len(results) == 2
    ok = ~np.isnan(scores[:, 1])
    single = agg.sureal_ap(img[ok], rat[ok], scores[ok, 1], n_images, n_raters)
    np.testing.assert_allclose(results[1].psi, single.psi, atol=1e-12)


# ---------------------------------------------------------------------------- screening


def test_bt500_report_flags_noisy_raters_and_is_json() -> None:
    img, rat, u, _, _, _, _, n_raters = _simulate_ap(3)
    report = agg.bt500_screening(img, rat, u, n_raters)
    json.dumps(report)
    assert set(report["rejected"]) <= {0, 1, 2}
    assert len(report["P"]) == n_raters and report["normalise"] == "per_rater"
    sparse = agg.bt500_screening(img, rat, u, n_raters, normalise="all")
    assert len(sparse["rejected"]) <= len(report["rejected"])


def test_bt500_hand_example() -> None:
    # 40 raters on one presentation: 39 agree around 0.5, rater 39 is far off. beta2 > 4 -> c = sqrt(20),
    # reachable since the largest |z| with n scores is (n - 1) / sqrt(n) = 6.2 > 4.47.
    vals = np.r_[np.linspace(0.45, 0.55, 39), 1.0]
    one_sided = agg.bt500_screening(np.zeros(40, np.int64), np.arange(40), vals, 40)
    assert one_sided["P"][39] == 1 and one_sided["N"][39] == 1 and one_sided["asymmetry"][39] == 1.0
    assert one_sided["rejected"] == []  # |P - Q| / (P + Q) = 1: one-sided deviation is not rejected
    both = np.c_[vals, np.r_[vals[:39], 0.0]]  # dimension 1: rater 39 far below
    report = agg.bt500_screening(np.zeros(40, np.int64), np.arange(40), both, 40)
    assert (report["P"][39], report["Q"][39], report["N"][39]) == (1, 1, 2)
    assert report["rejected"] == [39] and report["share_normal_kurtosis"] == 0.0


def test_inconsistency_screening() -> None:
    ups = np.r_[np.linspace(0.1, 0.2, 19), 0.9, np.nan]
    assert agg.inconsistency_screening(ups).tolist() == [19]
    # the lower bound decides: 0.9 with a bound of 0.2 (few ratings) is not significantly above 2 x 0.15
    low = np.r_[ups[:19] * 0.9, 0.2, np.nan]
    assert agg.inconsistency_screening(ups, low).size == 0
    assert agg.inconsistency_screening(np.full(20, 0.15)).size == 0  # no quota: a uniform crowd has no flag
    assert agg.inconsistency_screening(np.array([np.nan])).size == 0


# ---------------------------------------------------------------------------- reliability


def _krippendorff_bruteforce(img: np.ndarray, vals: np.ndarray) -> float:
    units = [vals[img == j] for j in np.unique(img)]
    units = [x for x in units if x.size >= 2]
    pooled = np.concatenate(units)
    n = pooled.size
    d_o = (
        sum(sum((a - b) ** 2 for a, b in itertools.permutations(x.tolist(), 2)) / (x.size - 1) for x in units)
        / n
    )
    d_e = sum((a - b) ** 2 for a, b in itertools.permutations(pooled.tolist(), 2)) / (n * (n - 1))
    return 1.0 - d_o / d_e


@given(long_ratings(max_rows=25, max_dims=1))
def test_krippendorff_closed_form_matches_bruteforce(data) -> None:
    img, _, scores, _, _ = data
    ok = ~np.isnan(scores[:, 0])
    img, vals = img[ok], scores[ok, 0]
    counts = np.bincount(img) if img.size else np.zeros(0, np.int64)
    pairable = counts[img] >= 2 if img.size else np.zeros(0, bool)
    closed = agg.krippendorff_alpha_interval(img, vals)
    if pairable.sum() < 2 or np.ptp(vals[pairable]) == 0:
        assert np.isnan(closed)
        return
    assert closed == pytest.approx(_krippendorff_bruteforce(img, vals), abs=1e-9)


def test_icc_matches_direct_anova() -> None:
    img = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    vals = np.array([0.2, 0.3, 0.25, 0.7, 0.8, 0.5, 0.4, 0.45, 0.6])
    groups = [vals[img == j] for j in range(3)]
    n = vals.size
    grand = vals.mean()
    msb = sum(g.size * (g.mean() - grand) ** 2 for g in groups) / 2
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - 3)
    n0 = (n - sum(g.size**2 for g in groups) / n) / 2
    assert agg.icc_1_1(img, vals) == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw))
    assert agg.icc_1k(img, vals) == pytest.approx((msb - msw) / msb)
    # one-way ANOVA F agrees with scipy
    assert msb / msw == pytest.approx(stats.f_oneway(*groups).statistic)


def test_split_half_and_loo_on_perfect_and_degenerate_raters() -> None:
    rng = np.random.default_rng(0)
    n_images, k = 60, 6
    truth = rng.permutation(n_images) / n_images
    img = np.repeat(np.arange(n_images), k)
    rat = np.tile(np.arange(k), n_images)
    r, sb = agg.split_half_reliability(img, rat, truth[img], rng=0)
    assert r == pytest.approx(1.0) and sb == pytest.approx(1.0)
    noisy = np.clip(truth[img] + rng.normal(0, 0.1, img.size), 0, 1)
    noisy[rat == 0] = 0.5  # rater 0 straight-lines
    loo = agg.rater_loo_srcc(img, rat, noisy, k + 1)
    assert loo[0] == 0.0 and np.all(loo[1:k] > 0.8) and np.isnan(loo[k])
    # LOO equals scipy's spearman per rater
    other = np.array([(noisy[(img == j)].sum() - noisy[i]) / (k - 1) for i, j in enumerate(img)])
    m = rat == 3
    assert loo[3] == pytest.approx(stats.spearmanr(noisy[m], other[m]).statistic)


def test_split_half_matches_scipy_spearman_with_nans() -> None:
    img, rat, u, *_ = _simulate_ap(4)
    u = np.round(u, 2)
    u[::11] = np.nan
    r, sb = agg.split_half_reliability(img, rat, u, n_splits=3, rng=1)
    assert 0.3 < r < 1.0 and sb == pytest.approx(2 * r / (1 + r))


def test_reliability_report_structure() -> None:
    img, rat, u, *_ = _simulate_ap(5)
    scores = np.repeat(u[:, None], 12, axis=1)
    report = agg.reliability_report(img, rat, scores, n_splits=4, rng=0)
    json.dumps(report)
    assert next(iter(report)) == "facial_brightness" and len(report) == 12
    row = report["overall"]
    assert row["n_ratings"] == u.size and 0 < row["icc_1_1"] < row["icc_1k"] < 1
    assert row["krippendorff_alpha"] == pytest.approx(row["icc_1_1"], abs=0.02)


# ---------------------------------------------------------------------------- fast paths vs references


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(1, 12)),
        elements=st.sampled_from([0.0, 0.1, 0.5, 1.0, 5e-324, np.nan]),
    )
)
def test_average_ranks_match_scipy_nan_last(a) -> None:
    ranks = agg._average_ranks(a)
    for row, got in zip(a, ranks, strict=True):
        ok = ~np.isnan(row)
        np.testing.assert_allclose(got[ok], stats.rankdata(row[ok]))
        assert np.all(got[~ok] > ok.sum())  # NaN ranks last


@given(long_ratings(max_rows=40, max_dims=1, nan=False))
def test_rank_within_matches_scipy_per_group(data) -> None:
    _, rat, scores, _, _ = data
    ranks = agg._rank_within(rat, scores[:, 0])
    for g in np.unique(rat):
        np.testing.assert_allclose(ranks[rat == g], stats.rankdata(scores[rat == g, 0]))


def _sureal_reference(img, rat, u, n_images, n_raters, tol=1e-8):
    """The AP loop written plainly (two-pass variances, bincount sums), for one dimension without NaN: sureal's
    own rule (no υ floor, υ estimated from 2 ratings on); ψ clipped to the scale as the platform does."""
    n_j, n_i = np.bincount(img, minlength=n_images), np.bincount(rat, minlength=n_raters)
    psi = np.bincount(img, weights=u, minlength=n_images) / n_j
    b = np.bincount(rat, weights=u - psi[img], minlength=n_raters) / n_i
    for _ in range(1000):
        e = u - psi[img] - b[rat]
        v = np.sqrt(np.bincount(rat, weights=e * e, minlength=n_raters) / n_i)
        w = (1.0 / (v * v + 1e-8))[rat]
        new = np.bincount(img, weights=w * (u - b[rat]), minlength=n_images) / np.bincount(img, weights=w)
        b = np.bincount(rat, weights=u - new[img], minlength=n_raters) / n_i
        done = np.sqrt(np.sum((new - psi) ** 2)) < tol
        psi = new
        if done:
            break
    c = b.mean()
    return np.clip(psi + c, 0, 1), b - c, v


@pytest.mark.parametrize(("seed", "bias_sd", "noise"), [(6, 0.06, 0.1), (7, 0.3, 1e-6), (8, 0.0, 0.0)])
def test_sureal_matches_plain_reference(seed, bias_sd, noise) -> None:
    # includes large biases with almost no noise (where a one-pass variance could cancel badly)
    rng = np.random.default_rng(seed)
    n_images, n_raters, k = 80, 12, 5
    img = np.repeat(np.arange(n_images), k)
    rat = np.argpartition(rng.random((n_images, n_raters)), k, axis=1)[:, :k].ravel()
    delta = rng.normal(0, bias_sd, n_raters)
    u = np.clip(
        0.5 + 0.1 * rng.standard_normal(n_images)[img] + delta[rat] + noise * rng.standard_normal(img.size),
        0,
        1,
    )
    res = agg.sureal_ap(img, rat, u, n_images, n_raters, min_ratings_for_upsilon=2, upsilon_floor_ratio=0.0)
    psi, delta_hat, ups = _sureal_reference(img, rat, u, n_images, n_raters)
    np.testing.assert_allclose(res.psi, psi, atol=1e-9)
    np.testing.assert_allclose(res.delta, delta_hat, atol=1e-9)
    np.testing.assert_allclose(res.upsilon, ups, atol=1e-7)


def test_multi_column_helpers_equal_single_column_calls() -> None:
    img, rat, u, _, _, _, _, n_raters = _simulate_ap(9)
    scores = np.c_[u, np.round(u[::-1], 2), np.clip(u + 0.1, 0, 1)]
    scores[::5, 1] = np.nan
    scores[::3, 2] = np.nan
    loo = agg.rater_loo_srcc_all(img, rat, scores, n_raters)
    report = agg.reliability_report(img, rat, scores, n_splits=3, rng=7, dimension_keys=["a", "b", "c"])
    for k, key in enumerate("abc"):
        np.testing.assert_array_equal(loo[:, k], agg.rater_loo_srcc(img, rat, scores[:, k], n_raters))
        row = report[key]
        assert row["icc_1_1"] == pytest.approx(agg.icc_1_1(img, scores[:, k]), abs=1e-12)
        assert row["icc_1k"] == pytest.approx(agg.icc_1k(img, scores[:, k]), abs=1e-12)
        assert row["krippendorff_alpha"] == pytest.approx(
            agg.krippendorff_alpha_interval(img, scores[:, k]), abs=1e-12
        )
        # the random split depends only on the number of ratings per image: the same for every column
        r, _ = agg.split_half_reliability(img, rat, scores[:, k], n_splits=3, rng=7)
        assert row["split_half_srcc"] == pytest.approx(r, abs=1e-12)


def test_bt500_share_counts_presentations_with_scores_only() -> None:
    # image 1 has no score at all and images 0 / 2 one presentation each: share over 2, not over 3 slots
    img = np.array([0, 0, 0, 2, 2, 2])
    vals = np.array([0.1, 0.5, 0.9, 0.2, 0.2, 0.8])
    report = agg.bt500_screening(img, np.array([0, 1, 2, 0, 1, 2]), vals, 3)
    assert report["n_presentations"] == 2
    beta2 = [stats.kurtosis(vals[img == j], fisher=False) for j in (0, 2)]
    assert report["share_normal_kurtosis"] == np.mean([2 <= b <= 4 for b in beta2])
