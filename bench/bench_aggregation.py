"""Benchmark: full re-aggregation of 50,000 images x 9 ratings x 12 dimensions.

Stages: ``image_stats`` (MOS/SD/CI), ``sureal_ap_all`` (AP over 12 dimensions) and
``reliability_report`` (split-half x20, ICC, alpha over 12 dimensions), plus the per-rater LOO
SRCC and BT.500 report. Run: ``.venv/bin/python bench/bench_aggregation.py [--images N]``.
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
from modeling.standard import NUM_DIMENSIONS


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
    args = parser.parse_args()
    d = NUM_DIMENSIONS

    t0 = time.perf_counter()
    img, rat, scores = make_data(args.images, args.k, args.raters, d, args.seed)
    t_gen = time.perf_counter() - t0
    print(
        f"data: {args.images} images x {args.k} ratings x {d} dims = {scores.size:,} scores, "
        f"{args.raters} raters (generated in {t_gen:.2f} s)"
    )

    timings: dict[str, float] = {}
    t = time.perf_counter()
    stats_ = agg.image_stats(img, scores, args.images)
    timings["image_stats"] = time.perf_counter() - t

    t = time.perf_counter()
    results = agg.sureal_ap_all(img, rat, scores, args.images, args.raters)
    timings["sureal_ap_all (12 dims)"] = time.perf_counter() - t

    t = time.perf_counter()
    report = agg.reliability_report(img, rat, scores, n_splits=20, rng=args.seed)
    timings["reliability_report (12 dims, 20 splits)"] = time.perf_counter() - t

    total = sum(timings.values())

    t = time.perf_counter()
    for k in range(d):
        agg.rater_loo_srcc(img, rat, scores[:, k], args.raters)
    t_loo = time.perf_counter() - t
    t = time.perf_counter()
    agg.bt500_screening(img, rat, scores, args.raters)
    t_bt = time.perf_counter() - t

    for name, secs in timings.items():
        print(f"  {name:<42s} {secs:7.2f} s")
    print(f"  {'TOTAL (target < 10 s)':<42s} {total:7.2f} s")
    print(f"  {'extra: rater_loo_srcc (12 dims)':<42s} {t_loo:7.2f} s")
    print(f"  {'extra: bt500_screening (all dims)':<42s} {t_bt:7.2f} s")
    iters = [r.n_iter for r in results]
    print(f"AP iterations per dim: {iters}; all converged: {all(r.converged for r in results)}")
    print(f"max CI half-width median: {np.nanmedian(stats_.max_ci_half_width):.3f}")
    first = next(iter(report))
    print(f"reliability[{first}]: {report[first]}")


if __name__ == "__main__":
    main()
