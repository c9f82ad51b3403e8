"""An independent crowd simulator for the aggregation benchmarks (no platform code imported).

Truth: ``n_images x n_dims`` qualities in [0.1, 0.9], correlated across dimensions (a shared factor with
loading ``sqrt(rho)``, as aesthetic dimensions are). Raters: a bias per rater (shared over dimensions plus a
small per-dimension part), an inconsistency υ, and an activity weight, so some raters score hundreds of
images and a few only a handful. Each image gets ``k`` distinct raters drawn with probability proportional
to activity (Gumbel top-k). Scores are ``truth + bias + υ·noise`` (noise partly shared across the
dimensions of one rating), clipped to [0, 1] and rounded to the slider's 0.01.

Crowds (the share of raters of each kind; the rest are honest):

* ``honest``: everyone honest (υ ~ U(0.08, 0.20), bias SD 0.06);
* ``noisy``: 10 % with υ ~ U(0.35, 0.50);
* ``biased``: 20 % with a bias of ±U(0.15, 0.25) (honest otherwise: a rater model should absorb it);
* ``random``: 10 % random clickers (uniform scores, unrelated to the image);
* ``straight``: 10 % straight-liners (one level per rater and dimension, ±0.02 of slider jitter);
* ``mixed``: 5 % noisy, 10 % biased, 5 % random, 5 % straight.

Noisy, random and straight raters are the "bad" ones a screening should find; biased raters are not bad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CROWDS: dict[str, dict[str, float]] = {
    "honest": {},
    "noisy": {"noisy": 0.10},
    "biased": {"biased": 0.20},
    "random": {"random": 0.10},
    "straight": {"straight": 0.10},
    "mixed": {"noisy": 0.05, "biased": 0.10, "random": 0.05, "straight": 0.05},
}
BAD_KINDS = ("noisy", "random", "straight")


@dataclass(frozen=True)
class Crowd:
    image_index: np.ndarray  # [R]
    rater_index: np.ndarray  # [R]
    scores: np.ndarray  # [R, D] in [0, 1], NaN = can't judge
    truth: np.ndarray  # [n_images, D]
    kind: np.ndarray  # [n_raters] str: honest / noisy / biased / random / straight
    bias: np.ndarray  # [n_raters, D]
    upsilon: np.ndarray  # [n_raters]

    @property
    def bad(self) -> np.ndarray:
        return np.isin(self.kind, BAD_KINDS)


def simulate(
    crowd: str,
    *,
    n_images: int = 5000,
    n_dims: int = 12,
    n_raters: int = 100,
    k: int = 9,
    seed: int = 0,
    rho: float = 0.6,
    cant_judge: float = 0.01,
) -> Crowd:
    if crowd not in CROWDS:
        raise ValueError(f"unknown crowd {crowd!r}; one of {sorted(CROWDS)}")
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_images, 1))
    own = rng.standard_normal((n_images, n_dims))
    truth = np.clip(0.5 + 0.15 * (np.sqrt(rho) * shared + np.sqrt(1 - rho) * own), 0.1, 0.9)

    kind = np.full(n_raters, "honest", dtype=object)
    order = rng.permutation(n_raters)
    start = 0
    for name, share in CROWDS[crowd].items():
        count = round(share * n_raters)
        kind[order[start : start + count]] = name
        start += count
    bias = rng.normal(0.0, 0.05, (n_raters, 1)) + rng.normal(0.0, 0.03, (n_raters, n_dims))
    biased = kind == "biased"
    bias[biased] += (rng.choice([-1.0, 1.0], biased.sum()) * rng.uniform(0.15, 0.25, biased.sum()))[:, None]
    upsilon = rng.uniform(0.08, 0.20, n_raters)
    noisy = kind == "noisy"
    upsilon[noisy] = rng.uniform(0.35, 0.50, noisy.sum())
    level = rng.uniform(0.35, 0.75, (n_raters, n_dims))  # a straight-liner's levels

    activity = rng.lognormal(0.0, 0.8, n_raters)
    activity[rng.choice(n_raters, max(1, n_raters // 20), replace=False)] = 0.01  # a few drop-outs
    keys = np.log(activity)[None, :] + rng.gumbel(size=(n_images, n_raters))
    rater_index = np.argpartition(-keys, k, axis=1)[:, :k].ravel().astype(np.int64)
    image_index = np.repeat(np.arange(n_images, dtype=np.int64), k)

    noise = np.sqrt(0.3) * rng.standard_normal((image_index.size, 1)) + np.sqrt(0.7) * rng.standard_normal(
        (image_index.size, n_dims)
    )
    scores = truth[image_index] + bias[rater_index] + upsilon[rater_index, None] * noise
    rk = kind[rater_index]
    rand = rk == "random"
    scores[rand] = rng.uniform(0.0, 1.0, (rand.sum(), n_dims))
    straight = rk == "straight"
    scores[straight] = level[rater_index[straight]] + rng.normal(0.0, 0.02, (straight.sum(), n_dims))
    scores = np.round(np.clip(scores, 0.0, 1.0), 2)
    scores[rng.random(scores.shape) < cant_judge] = np.nan
    return Crowd(image_index, rater_index, scores, truth, kind.astype(str), bias, upsilon)
