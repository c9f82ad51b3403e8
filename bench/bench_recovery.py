"""Recovery study: which aggregate gets closest to the truth, how honest its CI is, and which screening finds
the bad raters, on crowds from the independent simulator in ``bench/crowd_sim.py``.

For every crowd (honest, noisy, biased, random, straight, mixed), k in (5, 9, 15) and seed, on 5,000
images x 12 correlated dimensions and 100 raters, it prints averages over seeds of:

* RMSE and SRCC to the truth (mean over dimensions) of: ``MOS``; ``MOS-BT500`` (MOS without the raters that
  BT.500 per-rater screening rejects); ``MOS-screened`` (MOS without the raters the platform's screening
  flags); ``psi-sureal`` (SUREAL as the sureal package does it: no υ floor, υ from 2 ratings); ``psi`` (the
  platform's SUREAL: υ floor at half the median, pooled υ below 10 ratings);
* 95 % CI coverage of the truth: MOS's t-CI, the platform's ψ CI (sample SD, t(n-1)) and sureal's
  (population SD, z = 1.96);
* screening precision / recall against the planted bad raters (noisy, random clickers, straight-liners), over
  the raters with at least 10 ratings: the platform's rules (υ significantly above twice the median or LOO SRCC below half the
  median), the old "υ above the 95th percentile" rule and BT.500 (per-rater and sureal's "all" normalisation);
* SUREAL's iterations (max), fits that did not converge, and fits where some rater's υ collapsed below 0.01.

    .venv/bin/python bench/bench_recovery.py [--seeds 5] [--k 5,9,15] [--crowds honest,...] [--images 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import defaultdict

import numpy as np
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from crowd_sim import CROWDS, simulate  # noqa: E402

from annotation import aggregation as agg  # noqa: E402

MIN_RATINGS = agg.SUREAL_MIN_RATINGS_FOR_UPSILON


def _rmse_srcc(est: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(est)
    rmse = float(np.sqrt(np.mean((est[ok] - truth[ok]) ** 2)))
    srcc = float(
        np.mean([stats.spearmanr(est[ok[:, d], d], truth[ok[:, d], d])[0] for d in range(truth.shape[1])])
    )
    return rmse, srcc


def _coverage(est: np.ndarray, half: np.ndarray, truth: np.ndarray) -> float:
    ok = np.isfinite(est) & np.isfinite(half)
    return float(np.mean(np.abs(est[ok] - truth[ok]) <= half[ok]))


def _pr(flagged: np.ndarray, bad: np.ndarray, evaluated: np.ndarray) -> tuple[float, float, int]:
    f, b = flagged & evaluated, bad & evaluated
    tp = int((f & b).sum())
    precision = tp / f.sum() if f.sum() else float("nan")
    recall = tp / b.sum() if b.sum() else float("nan")
    return precision, recall, int(f.sum())


def _mos_without(crowd, drop: np.ndarray, n_images: int) -> np.ndarray:
    keep = ~np.isin(crowd.rater_index, np.flatnonzero(drop))
    return agg.image_stats(crowd.image_index[keep], crowd.scores[keep], n_images).mos


def one_cell(
    crowd_name: str, k: int, seed: int, n_images: int, n_raters: int, sureal_rule: bool
) -> dict[str, float]:
    c = simulate(crowd_name, n_images=n_images, n_raters=n_raters, k=k, seed=seed)
    img, rat, s, truth = c.image_index, c.rater_index, c.scores, c.truth
    out: dict[str, float] = {}
    st = agg.image_stats(img, s, n_images)
    t = time.perf_counter()
    fits = agg.sureal_ap_all(img, rat, s, n_images, n_raters)
    out["sureal_s"] = time.perf_counter() - t
    t = time.perf_counter()
    classic = (
        agg.sureal_ap_all(img, rat, s, n_images, n_raters, min_ratings_for_upsilon=2, upsilon_floor_ratio=0.0)
        if sureal_rule  # slow: it often runs to max_iter
        else fits
    )
    out["sureal_classic_s"] = time.perf_counter() - t
    psi = np.stack([r.psi for r in fits], axis=1)
    psi_ci = np.stack([r.psi_ci95 for r in fits], axis=1)
    psi_c = np.stack([r.psi for r in classic], axis=1)
    n = st.n.astype(float)
    # sureal's own CI: population SD of the residuals and z = 1.96 (from the sample-SD SE of the same fit)
    classic_se = np.stack([r.psi_se for r in classic], axis=1) * np.sqrt(np.maximum(n - 1, 0) / n)
    out["cov_mos"] = _coverage(st.mos, st.ci_half_width, truth)
    out["cov_psi"] = _coverage(psi, psi_ci, truth)
    if sureal_rule:
        out["cov_psi_sureal"] = _coverage(psi_c, 1.959963984540054 * classic_se, truth)

    ups = np.stack([r.upsilon for r in fits], axis=1)
    ups_low = np.stack([r.upsilon_ci_low for r in fits], axis=1)
    loo = agg.rater_loo_srcc_all(img, rat, s, n_raters)
    spread = agg.rater_score_spread(rat, s, n_raters)
    n_ratings = np.bincount(rat, minlength=n_raters)
    screening = agg.screen_raters(ups, ups_low, loo, spread, n_ratings)
    evaluated = n_ratings >= MIN_RATINGS
    bt = agg.bt500_screening(img, rat, s, n_raters)
    bt_all = agg.bt500_screening(img, rat, s, n_raters, normalise="all")
    bt_rejected = np.isin(np.arange(n_raters), bt["rejected"])
    bt_all_rejected = np.isin(np.arange(n_raters), bt_all["rejected"])
    mean_ups = np.nanmean(ups, axis=1)
    p95 = np.isfinite(mean_ups) & (mean_ups > np.nanpercentile(mean_ups, 95))

    keep = ~np.isin(rat, np.flatnonzero(screening.flagged))
    psi_screened = np.stack(
        [r.psi for r in agg.sureal_ap_all(img[keep], rat[keep], s[keep], n_images, n_raters)], axis=1
    )
    for name, est in (
        ("MOS", st.mos),
        ("MOS-BT500", _mos_without(c, bt_rejected, n_images)),
        ("MOS-screened", _mos_without(c, screening.flagged, n_images)),
        *((("psi-sureal", psi_c),) if sureal_rule else ()),
        ("psi", psi),
        ("psi-screened", psi_screened),
    ):
        out[f"rmse_{name}"], out[f"srcc_{name}"] = _rmse_srcc(est, truth)
    for name, flags in (
        ("platform", screening.flagged),
        ("ups>p95", p95),
        ("bt500", bt_rejected),
        ("bt500-all", bt_all_rejected),
    ):
        out[f"prec_{name}"], out[f"rec_{name}"], out[f"nflag_{name}"] = _pr(flags, c.bad, evaluated)
    straight = c.kind == "straight"
    if straight.any():
        named = np.array([screening.pattern(i) == "straight-lining" for i in range(n_raters)])
        out["straight_named"] = float(
            (named & straight & evaluated).sum() / max((straight & evaluated).sum(), 1)
        )
    out["iter_max"] = max(r.n_iter for r in fits)
    out["unconverged"] = sum(not r.converged for r in fits)
    if sureal_rule:
        out["iter_max_sureal"] = max(r.n_iter for r in classic)
        out["unconverged_sureal"] = sum(not r.converged for r in classic)
        out["collapsed_sureal"] = sum(bool((r.upsilon[r.n_per_rater > 0] < 0.01).any()) for r in classic)
    out["collapsed"] = sum(bool((r.upsilon[r.n_per_rater > 0] < 0.01).any()) for r in fits)
    out["raters_lt_min"] = int(((n_ratings > 0) & ~evaluated).sum())
    return out


def main() -> None:
    warnings.simplefilter("ignore", RuntimeWarning)  # means over seeds of NaN (e.g. precision with no flag)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--k", default="5,9,15")
    parser.add_argument("--crowds", default=",".join(CROWDS))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--raters", type=int, default=100)
    parser.add_argument(
        "--sureal-rule-k", default="9", help="k values where sureal's own rule is also fitted"
    )
    args = parser.parse_args()
    ks = [int(x) for x in args.k.split(",")]
    rule_ks = {int(x) for x in args.sureal_rule_k.split(",") if x}
    crowds = args.crowds.split(",")
    started = time.perf_counter()
    print(
        f"{args.images} images x 12 dims, {args.raters} raters, k in {ks}, {args.seeds} seeds; "
        f"averages over seeds (fits: 12 per cell and seed)"
    )
    methods = ("MOS", "MOS-BT500", "MOS-screened", "psi-sureal", "psi", "psi-screened")
    screens = ("platform", "ups>p95", "bt500", "bt500-all")
    all_cells: dict[tuple[str, int], dict[str, float]] = {}
    for crowd in crowds:
        for k in ks:
            acc: dict[str, list[float]] = defaultdict(list)
            for seed in range(args.seeds):
                for key, value in one_cell(crowd, k, seed, args.images, args.raters, k in rule_ks).items():
                    acc[key].append(value)
            m = {key: float(np.nanmean(v)) if key not in ("unconverged", "unconverged_sureal",
                 "collapsed", "collapsed_sureal", "iter_max", "iter_max_sureal") else float(np.sum(v))
                 if not key.startswith("iter_max") else float(np.max(v)) for key, v in acc.items()}  # fmt: skip
            all_cells[(crowd, k)] = m
            rm = " ".join(f"{name} {m[f'rmse_{name}']:.4f}" for name in methods if f"rmse_{name}" in m)
            sr = " ".join(f"{name} {m[f'srcc_{name}']:.3f}" for name in methods if f"srcc_{name}" in m)
            print(f"\n[{crowd} k={k}]")
            print(f"  RMSE  {rm}")
            print(f"  SRCC  {sr}")
            print(
                f"  CI coverage: MOS t {m['cov_mos']:.3f}  psi t(n-1) {m['cov_psi']:.3f}  "
                f"psi sureal z {m.get('cov_psi_sureal', float('nan')):.3f}"
            )
            scr = "  ".join(
                f"{name} P {m[f'prec_{name}']:.2f} R {m[f'rec_{name}']:.2f} ({m[f'nflag_{name}']:.1f} flagged)"
                for name in screens
            )
            print(f"  screening: {scr}")
            if "iter_max_sureal" in m:
                print(
                    f"  sureal's rule: max {m['iter_max_sureal']:.0f} iterations, {m['unconverged_sureal']:.0f} "
                    f"unconverged, {m['collapsed_sureal']:.0f} collapsed fits, {m['sureal_classic_s']:.2f} s"
                )
            if "straight_named" in m:
                print(f"  straight-liners named as such: {m['straight_named']:.2f}")
            print(
                f"  SUREAL platform: max {m['iter_max']:.0f} iterations, {m['unconverged']:.0f} unconverged, "
                f"{m['collapsed']:.0f} collapsed fits, {m['sureal_s']:.2f} s/12 dims | raters < "
                f"{MIN_RATINGS} ratings: {m['raters_lt_min']:.1f}"
            )
            sys.stdout.flush()
    unscreened = [x for x in methods if x != "psi-screened"]
    psi_best = sum(
        1
        for m in all_cells.values()
        if m["rmse_psi"] <= min(m[f"rmse_{x}"] for x in unscreened if f"rmse_{x}" in m)
    )
    gain = [1 - m["rmse_psi"] / m["rmse_MOS"] for m in all_cells.values()]
    k9 = [m["cov_psi"] for (crowd, k), m in all_cells.items() if k == 9 and crowd == "honest"]
    print(
        f"\nsummary: psi has the lowest RMSE of the methods without screening-based exclusion in {psi_best} "
        f"of {len(all_cells)} crowd x k cells; RMSE vs MOS "
        f"{-100 * max(gain):.0f} % to {-100 * min(gain):.0f} %; psi CI coverage, honest crowd k=9: "
        f"{k9[0] if k9 else float('nan'):.3f}; unconverged platform fits: "
        f"{sum(m['unconverged'] for m in all_cells.values()):.0f}; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
