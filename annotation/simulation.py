"""Simulated volunteers and gold bank for calibrating the qualification protocol (pure numpy).

Response model of a volunteer on an image with expert mean ``g`` (per dimension)::

    r = clip(0.5 + slope * (g - 0.5) + bias_d + noise_sd * N(0, 1), 0, 1), rounded to 0.01

``slope < 1`` is central tendency. After the first exam (training with feedback happened), a
volunteer with ``learning_gain = L`` answers with noise ``(1 - L) * noise_sd``, bias
``(1 - L) * bias`` and slope moved a fraction L toward 1. Straight-liners answer one constant
per dimension, random clickers ``U(0, 1)``; neither learns. The mixture in
:func:`default_population` is calibrated so that 455 invited volunteers end with ~368 certified
under the default :class:`~annotation.exam_scoring.PassRule` (see
``docs/qualification-calibration.md``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from annotation.exam_scoring import PassRule, draw_exam_form, score_exam
from modeling.standard import (
    APPEARANCE_INDEX,
    APPEARANCE_LEAF_INDICES,
    ENVIRONMENT_INDEX,
    FACIAL_INDEX,
    FACIAL_LEAF_INDICES,
    NUM_DIMENSIONS,
    OVERALL_INDEX,
)

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "POPULATION_MIXTURE",
    "GoldBank",
    "KindSpec",
    "RaterProfile",
    "default_population",
    "simulate_answers",
    "simulate_funnel",
    "synthetic_gold_bank",
]

KINDS = ("careful", "typical", "biased", "noisy", "straight_liner", "random_clicker")


@dataclass(frozen=True)
class RaterProfile:
    """One simulated volunteer."""

    rater_id: int
    kind: str  # one of KINDS
    noise_sd: float
    bias: tuple[float, ...]  # per dimension, added to every answer
    learning_gain: float = 0.0  # fraction of noise/bias/slope error removed by training
    slope: float = 1.0  # < 1: central tendency
    constant: tuple[float, ...] = ()  # straight-liners: the answer per dimension

    def trained(self) -> RaterProfile:
        """The same volunteer after training with feedback (used from the second exam on)."""
        keep = 1.0 - self.learning_gain
        return RaterProfile(
            rater_id=self.rater_id,
            kind=self.kind,
            noise_sd=self.noise_sd * keep,
            bias=tuple(b * keep for b in self.bias),
            learning_gain=0.0,
            slope=self.slope + self.learning_gain * (1.0 - self.slope),
            constant=self.constant,
        )


@dataclass(frozen=True)
class KindSpec:
    """One mixture component; ranges are drawn uniformly per volunteer."""

    share: float
    noise: tuple[float, float]  # noise_sd range
    bias_sd: float  # per-dimension bias SD around the rater's offset
    offset: tuple[float, float]  # |rater-level offset| range, sign drawn at random
    gain: tuple[float, float]  # learning gain range
    slope: tuple[float, float]  # slope range (< 1: central tendency)


# Calibrated in docs/qualification-calibration.md (455 invited -> ~368 certified).
POPULATION_MIXTURE: dict[str, KindSpec] = {
    "careful": KindSpec(0.30, (0.06, 0.11), 0.03, (0.0, 0.03), (0.1, 0.3), (0.9, 1.0)),
    "typical": KindSpec(0.35, (0.11, 0.19), 0.04, (0.0, 0.05), (0.1, 0.3), (0.8, 1.0)),
    "biased": KindSpec(0.10, (0.08, 0.15), 0.04, (0.12, 0.22), (0.3, 0.6), (0.8, 1.0)),
    "noisy": KindSpec(0.12, (0.20, 0.32), 0.05, (0.0, 0.05), (0.15, 0.35), (0.7, 1.0)),
    "straight_liner": KindSpec(0.05, (0.0, 0.0), 0.0, (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
    "random_clicker": KindSpec(0.08, (0.0, 0.0), 0.0, (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
}


def default_population(
    n: int = 455,
    seed: int = 0,
    *,
    mixture: dict[str, KindSpec] | None = None,
    n_dimensions: int = NUM_DIMENSIONS,
) -> list[RaterProfile]:
    """Draw ``n`` volunteers from the mixture; kind counts are the rounded shares (largest remainder)."""
    mix = mixture or POPULATION_MIXTURE
    rng = np.random.default_rng(seed)
    shares = np.array([mix[k].share for k in mix], dtype=np.float64)
    shares = shares / shares.sum()
    raw = shares * n
    counts = np.floor(raw).astype(int)
    for idx in np.argsort(-(raw - counts))[: n - counts.sum()]:
        counts[idx] += 1
    kinds = np.repeat(np.array(list(mix)), counts)
    rng.shuffle(kinds)
    people: list[RaterProfile] = []
    for rid, kind in enumerate(kinds.tolist()):
        p = mix[kind]
        if kind == "straight_liner":
            level = rng.uniform(0.35, 0.75)
            people.append(
                RaterProfile(
                    rid, kind, 0.0, (0.0,) * n_dimensions, 0.0, 0.0, (round(level, 2),) * n_dimensions
                )
            )
            continue
        if kind == "random_clicker":
            people.append(RaterProfile(rid, kind, 0.0, (0.0,) * n_dimensions, 0.0, 0.0))
            continue
        offset = rng.uniform(*p.offset) * rng.choice([-1.0, 1.0])
        bias = offset + rng.normal(0.0, p.bias_sd, n_dimensions)
        people.append(
            RaterProfile(
                rater_id=rid,
                kind=kind,
                noise_sd=float(rng.uniform(*p.noise)),
                bias=tuple(float(b) for b in bias),
                learning_gain=float(rng.uniform(*p.gain)),
                slope=float(rng.uniform(*p.slope)),
            )
        )
    return people


def simulate_answers(
    profile: RaterProfile, gold_means: npt.ArrayLike, rng: np.random.Generator
) -> FloatArray:
    """Simulated responses ``[n_items, D]`` in ``[0, 1]`` (on the slider's 0.01 grid)."""
    g = np.asarray(gold_means, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"gold_means must be [n_items, D], got shape {g.shape}")
    if profile.kind == "random_clicker":
        r = rng.uniform(0.0, 1.0, g.shape)
    elif profile.kind == "straight_liner":
        r = np.broadcast_to(np.asarray(profile.constant[: g.shape[1]], dtype=np.float64), g.shape).copy()
    else:
        bias = np.asarray(profile.bias[: g.shape[1]], dtype=np.float64)
        r = 0.5 + profile.slope * (g - 0.5) + bias + profile.noise_sd * rng.standard_normal(g.shape)
    return np.round(np.clip(r, 0.0, 1.0), 2)


@dataclass(frozen=True)
class GoldBank:
    """Synthetic expert gold: ``means``/``sds`` ``[n_images, D]``, ``expert_scores [n_experts, n_images, D]``."""

    means: FloatArray
    sds: FloatArray
    expert_scores: FloatArray
    truth: FloatArray


def synthetic_gold_bank(
    n_images: int = 150, n_experts: int = 5, seed: int = 0, *, expert_noise: float = 0.07
) -> GoldBank:
    """Gold bank with realistic structure: latent factors drive the leaves, leaves drive parents.

    Latents per image: face ``f``, body/appearance ``a``, environment ``e``, photo quality ``q``.
    Facial leaves ~ 0.7 f + 0.3 q, appearance leaves ~ 0.6 a + 0.3 f, environment ~ 0.8 e + 0.3 q
    (plus unique noise); facial_aesthetic ~ mean of facial leaves, general_appearance ~ mean of
    appearance leaves + 0.3 f, overall ~ 0.4 facial + 0.4 appearance + 0.2 environment. Each
    column is standardised and mapped by ``0.05 + 0.9 * Phi(z)`` (near-uniform, SD ~0.26 >= 0.2).
    Experts add a personal bias N(0, 0.03) and noise N(0, expert_noise), clipped, 0.01 grid.
    """
    if n_images < 3 or n_experts < 2:
        raise ValueError("need n_images >= 3 and n_experts >= 2")
    rng = np.random.default_rng(seed)
    f, a, e, q = rng.standard_normal((4, n_images))
    z = np.zeros((n_images, NUM_DIMENSIONS))

    def noise() -> FloatArray:
        return rng.standard_normal(n_images)

    for k in FACIAL_LEAF_INDICES:
        z[:, k] = 0.7 * f + 0.3 * q + 0.6 * noise()
    for k in APPEARANCE_LEAF_INDICES:
        z[:, k] = 0.6 * a + 0.3 * f + 0.6 * noise()
    z[:, ENVIRONMENT_INDEX] = 0.8 * e + 0.3 * q + 0.5 * noise()
    z = (z - z.mean(axis=0)) / np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
    z[:, FACIAL_INDEX] = z[:, list(FACIAL_LEAF_INDICES)].mean(axis=1) + 0.3 * noise()
    z[:, APPEARANCE_INDEX] = z[:, list(APPEARANCE_LEAF_INDICES)].mean(axis=1) + 0.3 * f + 0.3 * noise()
    for k in (FACIAL_INDEX, APPEARANCE_INDEX):
        z[:, k] = (z[:, k] - z[:, k].mean()) / z[:, k].std()
    z[:, OVERALL_INDEX] = (
        0.4 * z[:, FACIAL_INDEX]
        + 0.4 * z[:, APPEARANCE_INDEX]
        + 0.2 * z[:, ENVIRONMENT_INDEX]
        + 0.3 * noise()
    )
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    truth = 0.05 + 0.9 * special.ndtr(z)
    expert_bias = rng.normal(0.0, 0.03, (n_experts, 1, NUM_DIMENSIONS))
    scores = truth[None] + expert_bias + rng.normal(0.0, expert_noise, (n_experts, n_images, NUM_DIMENSIONS))
    scores = np.round(np.clip(scores, 0.0, 1.0), 2)
    return GoldBank(
        means=scores.mean(axis=0), sds=scores.std(axis=0, ddof=1), expert_scores=scores, truth=truth
    )


def simulate_funnel(
    population: list[RaterProfile],
    gold_bank: GoldBank,
    rule: PassRule | None = None,
    *,
    rounds: int = 1,
    max_attempts: int = 2,
    n_scored: int = 24,
    n_warmup: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the qualification protocol on a simulated population; returns the funnel.

    Round 1 is the initial qualification of everybody invited; each later round is the
    re-certification of those still certified, on fresh forms. Within a round a volunteer sits
    up to ``max_attempts`` exams (a retake after failing); from the second exam in their
    history on they answer as their ``trained()`` self. Every form is drawn with
    :func:`~annotation.exam_scoring.draw_exam_form`, excluding the items the volunteer has
    already seen. Returns per-round counts by attempt and by kind, fail reasons and the final
    number certified.
    """
    rule = rule or PassRule()
    if rounds < 1 or max_attempts < 1:
        raise ValueError("rounds and max_attempts must be >= 1")
    rng = np.random.default_rng(seed)
    seen: dict[int, set[int]] = {p.rater_id: set() for p in population}
    exams_taken: Counter[int] = Counter()
    active = list(population)
    per_round: list[dict[str, Any]] = []
    for rnd in range(1, rounds + 1):
        passed_at: Counter[int] = Counter()
        reasons: Counter[str] = Counter()
        kind_in: Counter[str] = Counter(p.kind for p in active)
        kind_pass: Counter[str] = Counter()
        certified: list[RaterProfile] = []
        for person in active:
            for attempt in range(1, max_attempts + 1):
                form = draw_exam_form(
                    gold_bank.means,
                    n_scored=n_scored,
                    n_warmup=n_warmup,
                    rng=rng,
                    exclude=frozenset(seen[person.rater_id]),
                )
                seen[person.rater_id].update(form.scored + form.warmup)
                who = person.trained() if exams_taken[person.rater_id] >= 1 else person
                exams_taken[person.rater_id] += 1
                items = np.asarray(form.scored)
                result = score_exam(
                    simulate_answers(who, gold_bank.means[items], rng), gold_bank.means[items], rule=rule
                )
                if result.passed:
                    passed_at[attempt] += 1
                    kind_pass[person.kind] += 1
                    certified.append(person)
                    break
                reasons["mae"] += result.mae > rule.max_mae
                reasons["srcc"] += result.mean_srcc < rule.min_mean_srcc
                reasons["bias"] += any(abs(b) > rule.max_abs_bias for b in result.bias_per_dim)
        per_round.append(
            {
                "round": rnd,
                "entered": len(active),
                "passed_by_attempt": {str(k): passed_at[k] for k in range(1, max_attempts + 1)},
                "certified": len(certified),
                "exited": len(active) - len(certified),
                "fail_reasons": dict(reasons),
                "by_kind": {
                    k: {"entered": kind_in[k], "certified": kind_pass[k]} for k in KINDS if kind_in[k]
                },
            }
        )
        active = certified
    return {
        "invited": len(population),
        "certified": len(active),
        "certified_share": len(active) / len(population) if population else 0.0,
        "rounds": per_round,
        "rule": {
            "max_mae": rule.max_mae,
            "min_mean_srcc": rule.min_mean_srcc,
            "max_abs_bias": rule.max_abs_bias,
        },
        "n_scored": n_scored,
        "max_attempts": max_attempts,
        "seed": seed,
    }
