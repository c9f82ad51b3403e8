"""The rater model that does not collapse, honest ψ intervals and relative screening (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from annotation import aggregation as agg


def _crowd(
    seed: int,
    *,
    n_images: int = 600,
    n_raters: int = 40,
    k: int = 9,
    d: int = 3,
    kinds: dict[str, int] | None = None,
    dropouts: int = 0,
):
    """A small crowd: honest raters (bias, υ in [0.08, 0.2]) plus planted noisy / random / straight / biased
    raters; ``dropouts`` raters with only 2-4 ratings each. Returns (img, rat, scores, truth, kind)."""
    rng = np.random.default_rng(seed)
    truth = np.clip(0.5 + 0.15 * rng.standard_normal((n_images, d)), 0.1, 0.9)
    kind = np.array(["honest"] * n_raters, dtype=object)
    start = 0
    for name, count in (kinds or {}).items():
        kind[start : start + count] = name
        start += count
    bias = rng.normal(0, 0.05, (n_raters, 1)) + np.where(kind == "biased", 0.2, 0.0)[:, None]
    ups = np.where(kind == "noisy", 0.45, rng.uniform(0.08, 0.2, n_raters))
    img = np.repeat(np.arange(n_images), k)
    rat = np.argpartition(rng.random((n_images, n_raters)), k, axis=1)[:, :k].ravel()
    s = truth[img] + bias[rat] + ups[rat, None] * rng.standard_normal((img.size, d))
    rk = kind[rat]
    s[rk == "random"] = rng.uniform(0, 1, ((rk == "random").sum(), d))
    s[rk == "straight"] = 0.6 + rng.normal(0, 0.02, ((rk == "straight").sum(), d))
    if dropouts:  # raters with a handful of ratings, each on its own images
        extra_rat = np.repeat(np.arange(n_raters, n_raters + dropouts), 3)[: dropouts * 3]
        extra_rat = extra_rat[rng.random(extra_rat.size) < 0.85]  # 2-3 ratings (some fewer)
        extra_img = rng.choice(n_images, extra_rat.size, replace=False)
        extra = truth[extra_img] + 0.12 * rng.standard_normal((extra_img.size, d))
        img, rat, s = np.r_[img, extra_img], np.r_[rat, extra_rat], np.r_[s, extra]
        kind = np.r_[kind, ["dropout"] * dropouts]
    return img, rat, np.round(np.clip(s, 0, 1), 2), truth, kind.astype(str)


def _screen(img, rat, s, n_images, n_raters, **kw):
    fits = agg.sureal_ap_all(img, rat, s, n_images, n_raters)
    ups = np.stack([r.upsilon for r in fits], axis=1)
    low = np.stack([r.upsilon_ci_low for r in fits], axis=1)
    loo = agg.rater_loo_srcc_all(img, rat, s, n_raters)
    spread = agg.rater_score_spread(rat, s, n_raters)
    return agg.screen_raters(ups, low, loo, spread, np.bincount(rat, minlength=n_raters), **kw)


# ---------------------------------------------------------------------------- 1. no collapse, convergence


def test_sureal_rule_collapses_where_the_floor_does_not() -> None:
    img, rat, s, truth, kind = _crowd(0, d=4, dropouts=30)
    n_images, n_raters = truth.shape[0], kind.size
    classic = agg.sureal_ap_all(
        img, rat, s, n_images, n_raters, min_ratings_for_upsilon=2, upsilon_floor_ratio=0
    )
    fits = agg.sureal_ap_all(img, rat, s, n_images, n_raters)
    assert any((r.upsilon[r.n_per_rater > 0] < 1e-3).any() for r in classic)  # sureal's rule collapses
    dropped_in = np.isin(np.arange(n_images), img[np.isin(rat, np.flatnonzero(kind == "dropout"))])
    for k, (old, new) in enumerate(zip(classic, fits, strict=True)):
        rated = new.n_per_rater > 0
        assert new.converged and new.n_iter < 100
        assert np.nanmin(new.upsilon[rated]) >= new.upsilon_floor > 0.02
        assert new.upsilon_imputed[kind == "dropout"].all()
        # on the images the few-rating raters touched, ψ is closer to the truth than with sureal's rule
        err_new = np.sqrt(np.mean((new.psi[dropped_in] - truth[dropped_in, k]) ** 2))
        err_old = np.sqrt(np.mean((old.psi[dropped_in] - truth[dropped_in, k]) ** 2))
        assert err_new <= err_old + 1e-3


@pytest.mark.parametrize(
    "kinds",
    [
        {},
        {"noisy": 4},
        {"random": 4},
        {"straight": 4},
        {"biased": 8},
        {"noisy": 2, "random": 2, "straight": 2},
    ],
)
def test_converges_within_the_budget_on_every_crowd(kinds) -> None:
    img, rat, s, truth, kind = _crowd(1, kinds=kinds, dropouts=3)
    for fit in agg.sureal_ap_all(img, rat, s, truth.shape[0], kind.size):
        assert fit.converged and fit.n_iter <= 100


def test_non_convergence_is_reported() -> None:
    img, rat, s, truth, kind = _crowd(2, d=1)
    fit = agg.sureal_ap(img, rat, s[:, 0], truth.shape[0], kind.size, max_iter=2)
    assert fit.n_iter == 2 and not fit.converged


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_iter", 0), ("tol", 0.0), ("min_ratings_for_upsilon", 1), ("upsilon_floor_ratio", 1.5)],
)
def test_bad_options_are_refused(option, value) -> None:
    with pytest.raises(ValueError):
        agg.sureal_ap(np.zeros(2, np.int64), np.arange(2), np.array([0.2, 0.4]), 1, 2, **{option: value})


@st.composite
def _sparse_crowds(draw: st.DrawFn):
    n_images = draw(st.integers(1, 12))
    n_raters = draw(st.integers(1, 15))
    r = draw(st.integers(1, 80))
    img = draw(hnp.arrays(np.int64, r, elements=st.integers(0, n_images - 1)))
    rat = draw(hnp.arrays(np.int64, r, elements=st.integers(0, n_raters - 1)))
    u = draw(hnp.arrays(np.float64, r, elements=st.floats(0.0, 1.0)))
    return img, rat, u, n_images, n_raters, draw(st.integers(2, 12)), draw(st.floats(0.0, 1.0))


@given(_sparse_crowds())
def test_model_invariants(crowd) -> None:
    img, rat, u, n_images, n_raters, min_ratings, ratio = crowd
    fit = agg.sureal_ap(
        img, rat, u, n_images, n_raters, min_ratings_for_upsilon=min_ratings, upsilon_floor_ratio=ratio
    )
    rated_i, rated_j = fit.n_per_rater > 0, fit.n_per_image > 0
    # ψ on the scale, NaN only for images without ratings
    assert np.all((fit.psi[rated_j] >= 0) & (fit.psi[rated_j] <= 1)) and np.isnan(fit.psi[~rated_j]).all()
    # the CI is undefined below 2 ratings, like MOS's, and a t-interval above
    few = fit.n_per_image < 2
    assert np.isnan(fit.psi_ci95[few]).all() and np.isnan(fit.psi_se[few]).all()
    t = stats.t.ppf(0.975, np.maximum(fit.n_per_image[~few] - 1, 1))
    np.testing.assert_allclose(fit.psi_ci95[~few], t * fit.psi_se[~few])
    assert np.all(fit.psi_se[~few] >= 0)
    # pooled υ below min_ratings, every estimate at or above the floor, so no weight runs away
    np.testing.assert_array_equal(fit.upsilon_imputed, rated_i & (fit.n_per_rater < min_ratings))
    estimated = rated_i & ~fit.upsilon_imputed
    if estimated.any():
        assert np.all(fit.upsilon[estimated] >= fit.upsilon_floor - 1e-15)
        assert not fit.upsilon_floored[~estimated].any()
        if (
            fit.upsilon_imputed.any() and ratio > 1e-3
        ):  # the pooled prior is the median the floor derives from
            np.testing.assert_allclose(fit.upsilon[fit.upsilon_imputed], fit.upsilon_floor / ratio)
    else:
        assert np.isnan(fit.upsilon_floor)
        np.testing.assert_array_equal(fit.upsilon[rated_i], 1.0)
    assert np.isnan(fit.upsilon[~rated_i]).all()


# ---------------------------------------------------------------------------- 2. honest intervals


def test_psi_ci_covers_the_truth_at_k9_on_an_honest_crowd() -> None:
    img, rat, s, truth, kind = _crowd(3, n_images=3000, n_raters=60, d=4)
    # interior truths only: the simulated slider clips at 0 and 1, which no interval can undo
    fits = agg.sureal_ap_all(img, rat, s, truth.shape[0], kind.size)
    psi = np.stack([r.psi for r in fits], axis=1)
    half = np.stack([r.psi_ci95 for r in fits], axis=1)
    coverage = np.mean(np.abs(psi - truth) <= half)
    assert 0.93 <= coverage <= 0.97, coverage
    mos = agg.image_stats(img, s, truth.shape[0])
    assert 0.93 <= np.mean(np.abs(mos.mos - truth) <= mos.ci_half_width) <= 0.97


def test_psi_is_clipped_to_the_scale() -> None:
    # two harsh raters (0.2 below the mean) give 0.95 to an image nobody else rated: the bias-corrected
    # estimate is 1.15, published as the top of the scale
    truth, delta = np.array([0.5, 0.4, 0.6, 0.45]), np.array([-0.2, -0.2, 0.2, 0.2])
    img, rat = (a.ravel() for a in np.meshgrid(np.arange(4), np.arange(4), indexing="ij"))
    u = np.r_[truth[img] + delta[rat], 0.95, 0.95]
    img, rat = np.r_[img, 4, 4], np.r_[rat, 0, 1]
    fit = agg.sureal_ap(img, rat, u, 5, 4, min_ratings_for_upsilon=2)
    np.testing.assert_allclose(fit.psi, [0.5, 0.4, 0.6, 0.45, 1.0], atol=1e-9)


# ---------------------------------------------------------------------------- 3. screening


def test_screening_finds_the_planted_raters_and_says_why() -> None:
    kinds = {"noisy": 2, "random": 2, "straight": 2, "biased": 4}
    img, rat, s, truth, kind = _crowd(4, n_images=1500, n_raters=50, d=4, kinds=kinds, dropouts=2)
    scr = _screen(img, rat, s, truth.shape[0], kind.size)
    bad = np.isin(kind, ["noisy", "random", "straight"])
    np.testing.assert_array_equal(scr.flagged, bad)  # biased raters and drop-outs are not flagged
    assert not scr.evaluated[kind == "dropout"].any()
    for i in np.flatnonzero(kind == "straight"):
        assert scr.pattern(i) == "straight-lining" and scr.low_agreement[i] and not scr.inconsistent[i]
        assert any(r.startswith("low agreement: LOO SRCC") for r in scr.reasons(i))
    for i in np.flatnonzero(kind == "random"):
        assert scr.pattern(i) == "random clicking" and scr.inconsistent[i]
    for i in np.flatnonzero(kind == "noisy"):
        assert scr.inconsistent[i] and scr.reasons(i)[0].startswith("inconsistent: υ")
    assert scr.reasons(int(np.flatnonzero(kind == "honest")[0])) == []


def test_a_clean_crowd_gets_no_flags() -> None:
    img, rat, s, truth, kind = _crowd(5, n_images=1500, n_raters=50, d=4)
    assert not _screen(img, rat, s, truth.shape[0], kind.size).flagged.any()


@given(
    hnp.arrays(np.float64, 12, elements=st.floats(0.01, 1.0)),
    hnp.arrays(np.float64, 12, elements=st.floats(-1.0, 1.0)),
    hnp.arrays(np.int64, 12, elements=st.integers(0, 40)),
    st.sampled_from([0.125, 0.5, 2.0, 16.0]),  # powers of 2: scaling is exact, comparisons cannot flip
)
def test_screening_is_relative_and_never_tests_few_ratings(ups, loo, n, scale) -> None:
    low = 0.8 * ups
    spread = ups + 0.1
    base = agg.screen_raters(ups, low, loo, spread, n)
    scaled = agg.screen_raters(ups * scale, low * scale, loo, spread * scale, n)  # units do not matter
    np.testing.assert_array_equal(base.flagged, scaled.flagged)
    assert not base.flagged[n < 10].any()
    # a rater who agrees at least as well as the median and is no more inconsistent is never flagged
    ok = (loo >= base.loo_median) & (low <= base.upsilon_median)
    assert not base.flagged[ok].any()


def test_screening_refuses_mismatched_inputs() -> None:
    with pytest.raises(ValueError):
        agg.screen_raters(np.ones(3), np.ones(3), np.ones(2), np.ones(3), np.ones(3, np.int64))
    with pytest.raises(ValueError):
        agg.screen_raters(np.ones(3), np.ones(3), np.ones(3), np.ones(3), np.ones(3, np.int64), loo_ratio=1.5)


def test_rater_score_spread_matches_numpy() -> None:
    rng = np.random.default_rng(6)
    rat = rng.integers(0, 5, 200)
    s = rng.random((200, 3))
    s[rng.random(s.shape) < 0.1] = np.nan
    got = agg.rater_score_spread(rat, s, 6)
    for i in range(5):
        block = s[rat == i]
        want = np.mean([np.std(c[~np.isnan(c)], ddof=1) for c in block.T])
        assert got[i] == pytest.approx(want)
    assert np.isnan(got[5])
