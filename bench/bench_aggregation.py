"""Benchmark: full re-aggregation of 50,000 images x 9 ratings x 12 dimensions.

Stages: ``image_stats`` (MOS/SD/CI), ``sureal_ap_all`` (AP over 12 dimensions) and
``reliability_report`` (split-half x20, ICC, alpha over 12 dimensions), plus the per-rater LOO
SRCC (``rater_loo_srcc_all``) and BT.500 report, all single-threaded. Run:
``.venv/bin/python bench/bench_aggregation.py [--images N] [--repeat 3] [--crowd mixed]
[--sureal-rule-dims 2]``; ``--crowd mixed`` takes the data from ``bench/crowd_sim.py`` (uneven activity,
noisy / biased / random / straight-lining raters) instead of the uniform honest crowd, and
``--sureal-rule-dims N`` also fits sureal's own rule (no υ floor, υ from 2 ratings) on the first N
dimensions and prints its iterations. With ``--repeat`` each
stage reports its best time and the spread (max - min) over the repeats (the dev box is shared).
Target: total of the three main stages < 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from annotation import aggregation as agg
from annotation.standards.humanbeauty import NUM_DIMENSIONS


def make_data(
    n_images: int, k: int, n_raters: int, d: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic long-format ratings: k distinct raters per image, scores on a 0.01 grid."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.1, 0.9, size=(n_images, d))
    bias = rng.normal(0.0, 0.06, size=(n_raters, d))
    noise = rng.uniform(0.1, 0.25, size=n_raters)
    image_index = np.repeat(np.arange(n_images), k)
    # k distinct raters per image: argpartition of random keys, vectorised.
    rater_index = np.argpartition(rng.random((n_images, n_raters)), k, axis=1)[:, :k].ravel()
    scores = (
        quality[image_index]
        + bias[rater_index]
        + noise[rater_index, None] * rng.standard_normal((image_index.size, d))
    )
    scores = np.round(np.clip(scores, 0.0, 1.0), 2)
    scores[rng.random(scores.shape) < 0.01] = np.nan  # 1 % "can't judge"
    return image_index, rater_index, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--k", type=int, default=9)
    parser.add_argument("--raters", type=int, default=368)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--crowd", choices=["uniform", "mixed"], default="uniform")
    parser.add_argument("--sureal-rule-dims", type=int, default=0)
    args = parser.parse_args()
    d = NUM_DIMENSIONS

    t0 = time.perf_counter()
    if args.crowd == "mixed":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from crowd_sim import simulate

        sim = simulate(
            "mixed", n_images=args.images, n_dims=d, n_raters=args.raters, k=args.k, seed=args.seed
        )
        img, rat, scores = sim.image_index, sim.rater_index, sim.scores
    else:
        img, rat, scores = make_data(args.images, args.k, args.raters, d, args.seed)
    t_gen = time.perf_counter() - t0
    print(
        f"data: {args.images} images x {args.k} ratings x {d} dims = {scores.size:,} scores, "
        f"{args.raters} raters (generated in {t_gen:.2f} s)"
    )

    stages = {
        "image_stats": lambda: agg.image_stats(img, scores, args.images),
        "sureal_ap_all (12 dims)": lambda: agg.sureal_ap_all(img, rat, scores, args.images, args.raters),
        "reliability_report (12 dims, 20 splits)": lambda: agg.reliability_report(
            img, rat, scores, n_splits=20, rng=args.seed
        ),
        "extra: rater_loo_srcc_all (12 dims)": lambda: agg.rater_loo_srcc_all(img, rat, scores, args.raters),
        "extra: bt500_screening (all dims)": lambda: agg.bt500_screening(img, rat, scores, args.raters),
    }
    runs: dict[str, list[float]] = {name: [] for name in stages}
    out: dict[str, object] = {}
    for _ in range(args.repeat):
        for name, fn in stages.items():
            t = time.perf_counter()
            out[name] = fn()
            runs[name].append(time.perf_counter() - t)
    best = {name: min(v) for name, v in runs.items()}
    spread = {name: max(v) - min(v) for name, v in runs.items()}
    main_stages = [name for name in stages if not name.startswith("extra")]
    print(f"best of {args.repeat} (spread = max - min), load average {os.getloadavg()[0]:.2f}:")
    for name in stages:
        print(f"  {name:<42s} {best[name]:7.2f} s  (spread {spread[name]:.2f})")
        if name == main_stages[-1]:
            total = sum(best[n] for n in main_stages)
            print(f"  {'TOTAL (target < 10 s)':<42s} {total:7.2f} s")
    stats_ = out["image_stats"]
    results = out["sureal_ap_all (12 dims)"]
    report = out["reliability_report (12 dims, 20 splits)"]
    assert isinstance(stats_, agg.ImageStats) and isinstance(results, list) and isinstance(report, dict)
    iters = [r.n_iter for r in results]
    print(f"AP iterations per dim: {iters}; all converged: {all(r.converged for r in results)}")
    if args.sureal_rule_dims:
        n = args.sureal_rule_dims
        t = time.perf_counter()
        rule = agg.sureal_ap_all(
            img,
            rat,
            scores[:, :n],
            args.images,
            args.raters,
            min_ratings_for_upsilon=2,
            upsilon_floor_ratio=0.0,
        )
        took = time.perf_counter() - t
        collapsed = [int((r.upsilon[r.n_per_rater > 0] < 0.01).sum()) for r in rule]
        print(
            f"sureal's rule on {n} dims: iterations {[r.n_iter for r in rule]}, converged "
            f"{[r.converged for r in rule]}, raters with υ < 0.01 {collapsed}, {took:.2f} s "
            f"(platform rule on the same dims: iterations {iters[:n]})"
        )
    print(f"max CI half-width median: {np.nanmedian(stats_.max_ci_half_width):.3f}")
    first = next(iter(report))
    print(f"reliability[{first}]: {report[first]}")


if __name__ == "__main__":
    main()
