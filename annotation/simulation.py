"""Simulated volunteers and gold bank for calibrating the qualification protocol (pure numpy).

Response model of a volunteer on an image with expert mean ``g`` (per dimension)::

    r = clip(0.5 + slope * (g - 0.5) + bias_d + noise_sd * N(0, 1), 0, 1), rounded to 0.01

``slope < 1`` is central tendency. A profile describes the volunteer *before any training*. Learning comes
only from feedback actually received (:func:`learn`, :class:`LearningModel`): each training or retraining
image answered with the experts' scores shown removes a fraction of the bias, noise and slope error, scaled
by the volunteer's aptitude ``learning_gain`` and weighted up on the dimensions the retraining flagged.
Straight-liners answer one constant per dimension, random clickers ``U(0, 1)``; neither learns. During formal
work some certified raters drift (:class:`DriftModel`). :func:`simulate_protocol` runs the whole protocol
(rounds, training, exams, retraining, retakes, a scoring period with hidden gold and periodic
re-certification). Parameters and their reasons: ``docs/qualification-calibration.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from annotation.exam_scoring import PassRule, draw_exam_form, hidden_gold_status, score_exam
from annotation.standards.humanbeauty import (
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
    "DriftModel",
    "GoldBank",
    "KindSpec",
    "LearningModel",
    "ProtocolParams",
    "RaterProfile",
    "default_population",
    "drift",
    "learn",
    "simulate_answers",
    "simulate_protocol",
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
    learning_gain: float = 0.0  # aptitude: scales what each feedback item teaches (see LearningModel)
    slope: float = 1.0  # < 1: central tendency
    constant: tuple[float, ...] = ()  # straight-liners: the answer per dimension
    noise_floor: float = -1.0  # lowest noise training can reach (< 0: set from the first noise_sd)

    @property
    def learns(self) -> bool:
        return self.kind not in ("straight_liner", "random_clicker") and self.learning_gain > 0


@dataclass(frozen=True)
class KindSpec:
    """One mixture component; ranges are drawn uniformly per volunteer."""

    share: float
    noise: tuple[float, float]  # noise_sd range
    bias_sd: float  # per-dimension bias SD around the rater's offset
    offset: tuple[float, float]  # |rater-level offset| range, sign drawn at random
    gain: tuple[float, float]  # learning gain range
    slope: tuple[float, float]  # slope range (< 1: central tendency)


# Shares and ranges: docs/qualification-calibration.md ("Population"). Not fitted to the paper's 368.
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


@dataclass(frozen=True)
class LearningModel:
    """What one feedback item teaches a volunteer of aptitude ``L`` (``RaterProfile.learning_gain``).

    Per item, with weight ``w_d = focus_weight`` on a dimension the retraining flagged and 1 elsewhere:
    ``bias_d *= 1 - bias_rate * L * w_d``; ``slope += (1 - slope) * slope_rate * L * mean(w)``;
    ``noise *= 1 - noise_rate * L * mean(w)``, never below ``noise_floor * initial noise``.
    """

    bias_rate: float = 0.05
    noise_rate: float = 0.015
    slope_rate: float = 0.04
    focus_weight: float = 3.0
    noise_floor: float = 0.6


@dataclass(frozen=True)
class DriftModel:
    """Drift during formal work: a share of certified raters starts drifting on a uniform day of the scoring
    period; from then their answers carry an extra offset ``±U(offset)`` on every dimension and noise x
    ``U(noise_factor)``. Retraining removes drift like any other bias."""

    share: float = 0.10
    offset: tuple[float, float] = (0.10, 0.20)
    noise_factor: tuple[float, float] = (1.3, 1.8)


def learn(
    profile: RaterProfile,
    *,
    focus: frozenset[int] | set[int] = frozenset(),
    model: LearningModel | None = None,
) -> RaterProfile:
    """The volunteer after one feedback item (``focus``: dimension indices the item was chosen for)."""
    if not profile.learns:
        return profile
    model = model or LearningModel()
    d = len(profile.bias)
    w = np.ones(d)
    if focus:
        w[[k for k in focus if 0 <= k < d]] = model.focus_weight
    aptitude = profile.learning_gain
    bias = np.asarray(profile.bias) * np.clip(1.0 - model.bias_rate * aptitude * w, 0.0, 1.0)
    floor = profile.noise_floor if profile.noise_floor >= 0 else model.noise_floor * profile.noise_sd
    noise = max(floor, profile.noise_sd * max(0.0, 1.0 - model.noise_rate * aptitude * float(w.mean())))
    slope = profile.slope + (1.0 - profile.slope) * min(1.0, model.slope_rate * aptitude * float(w.mean()))
    return replace(
        profile, bias=tuple(float(b) for b in bias), noise_sd=noise, slope=slope, noise_floor=floor
    )


def drift(profile: RaterProfile, rng: np.random.Generator, model: DriftModel | None = None) -> RaterProfile:
    """The rater after drifting (straight-liners and clickers are unchanged: they never get certified)."""
    if profile.kind in ("straight_liner", "random_clicker"):
        return profile
    model = model or DriftModel()
    offset = float(rng.uniform(*model.offset)) * float(rng.choice([-1.0, 1.0]))
    factor = float(rng.uniform(*model.noise_factor))
    return replace(
        profile,
        bias=tuple(b + offset for b in profile.bias),
        noise_sd=profile.noise_sd * factor,
        noise_floor=max(profile.noise_floor, 0.0) * factor,
    )


@dataclass(frozen=True)
class ProtocolParams:
    """The protocol's parameters as the platform's ``Protocol`` holds them, plus the simulated work period."""

    rule: PassRule = field(default_factory=PassRule)
    n_iterations: int = 3
    n_training: int = 10
    n_scored: int = 24
    n_warmup: int = 3
    max_attempts: int = 2
    n_retraining: int = 6
    recertification_days: int | None = 90
    hidden_gold_share: float = 0.05
    hidden_gold_window: int = 10
    warn_margin: float = 0.02
    suspend_margin: float = 0.05
    scoring_days: int = 120  # simulated formal-work period after certification
    items_per_day: int = 4  # queue items a certified rater scores per day


class _Volunteer:
    """A simulated volunteer moving through the protocol (pure; mirrors the services' rules)."""

    def __init__(self, profile: RaterProfile) -> None:
        self.profile = profile
        self.seen: set[int] = set()
        self.feedback_items = 0
        self.focused_items = 0


def _exam(v: _Volunteer, bank: GoldBank, params: ProtocolParams, rng: np.random.Generator) -> Any:
    form = draw_exam_form(
        bank.means, n_scored=params.n_scored, n_warmup=params.n_warmup, rng=rng, exclude=frozenset(v.seen)
    )
    v.seen.update(form.scored + form.warmup)
    items = np.asarray(form.scored)
    gold = bank.means[items]
    return score_exam(simulate_answers(v.profile, gold, rng), gold, rule=params.rule)


def _train(v: _Volunteer, bank: GoldBank, n: int, rng: np.random.Generator, model: LearningModel) -> None:
    fresh = [i for i in range(bank.means.shape[0]) if i not in v.seen]
    for i in rng.permutation(fresh)[:n].tolist():
        v.seen.add(int(i))
        v.profile = learn(v.profile, model=model)
        v.feedback_items += 1


def _retrain(
    v: _Volunteer,
    bank: GoldBank,
    result: Any,
    params: ProtocolParams,
    rng: np.random.Generator,
    model: LearningModel,
) -> None:
    from annotation.qualification.retraining import pick_retraining_items, retraining_focus

    keys = list(range(bank.means.shape[1]))
    rule = params.rule
    focus = retraining_focus(
        result.to_dict(), keys=keys, max_mae=rule.max_mae, min_mean_srcc=rule.min_mean_srcc,
        max_abs_bias=rule.max_abs_bias, weak_srcc=rule.weak_dimension_srcc,
    )  # fmt: skip
    picks = pick_retraining_items(
        bank.means, focus=focus, n_items=params.n_retraining, exclude=frozenset(v.seen), rng=rng
    )
    for item, _dim in picks:
        v.seen.add(item)
        v.profile = learn(v.profile, focus=frozenset(focus), model=model)
        v.feedback_items += 1
        v.focused_items += 1


def _exam_cycle(
    v: _Volunteer,
    bank: GoldBank,
    params: ProtocolParams,
    rng: np.random.Generator,
    model: LearningModel,
    fails: Counter[str],
) -> int:
    """Up to ``max_attempts`` exams with retraining between; the attempt that passed, or 0."""
    rule = params.rule
    for attempt in range(1, params.max_attempts + 1):
        result = _exam(v, bank, params, rng)
        if result.passed:
            return attempt
        fails["mae"] += result.mae > rule.max_mae
        fails["srcc"] += result.mean_srcc < rule.min_mean_srcc
        fails["bias"] += any(abs(b) > rule.max_abs_bias for b in result.bias_per_dim)
        if attempt < params.max_attempts:
            _retrain(v, bank, result, params, rng, model)
    return 0


def simulate_protocol(
    population: list[RaterProfile],
    gold_bank: GoldBank,
    params: ProtocolParams | None = None,
    *,
    learning: LearningModel | None = None,
    drift_model: DriftModel | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the platform's protocol on a simulated population (the pure twin of the service simulation).

    Per volunteer: each round N = 1..n_iterations is training (``n_training`` feedback items) then up to
    ``max_attempts`` exams on fresh forms, a failed exam followed by targeted retraining (``n_retraining``
    items for the failed dimensions); failing the last attempt exits. The certified then work
    ``scoring_days``: each queue item is hidden gold with probability ``hidden_gold_share``; a rolling MAE
    over the last ``hidden_gold_window`` answers above ``max_mae + suspend_margin`` suspends, as does the
    periodic re-certification every ``recertification_days``; a suspended rater sits the re-qualification
    exam cycle (retraining between attempts) and is certified again or exits. Drifting raters
    (:class:`DriftModel`) start drifting on a random day. Returns the funnel per round, exits by cause,
    the retraining delivered and counts by kind.
    """
    params = params or ProtocolParams()
    learning = learning or LearningModel()
    drift_model = drift_model or DriftModel()
    rng = np.random.default_rng(seed)
    rule = params.rule
    rounds = [
        {"round": n, "entered": 0, "passed": 0, "passed_by_attempt": Counter()}
        for n in range(1, params.n_iterations + 1)
    ]
    exits: Counter[str] = Counter()
    fails: Counter[str] = Counter()
    kind_in: Counter[str] = Counter(p.kind for p in population)
    kind_cert: Counter[str] = Counter()
    kind_end: Counter[str] = Counter()
    volunteers = [_Volunteer(p) for p in population]
    certified: list[_Volunteer] = []
    for v in volunteers:
        for rnd in rounds:
            rnd["entered"] += 1
            _train(v, gold_bank, params.n_training, rng, learning)
            passed_at = _exam_cycle(v, gold_bank, params, rng, learning, fails)
            if not passed_at:
                exits[f"failed round {rnd['round']}"] += 1
                break
            rnd["passed"] += 1
            rnd["passed_by_attempt"][passed_at] += 1
        else:
            certified.append(v)
            kind_cert[v.profile.kind] += 1
    qualified = len(certified)
    qualification_retraining_items = sum(v.focused_items for v in volunteers)
    # ---- formal work: hidden gold, drift, periodic re-certification
    work = {"hidden_gold_answers": 0, "drifting": 0, "suspended_hidden_gold": 0, "recertifications": 0,
            "requalified": 0, "drifting_caught": 0,
            "drifting_rechecked": 0, "drifting_exited": 0}  # fmt: skip
    staying: list[_Volunteer] = []
    for v in certified:
        drifts = params.scoring_days > 0 and rng.random() < drift_model.share
        onset = int(rng.integers(0, params.scoring_days)) if drifts else None
        drifting = False
        work["drifting"] += onset is not None
        errors: list[float] = []
        certified_day = 0
        alive = True
        for day in range(params.scoring_days):
            if onset is not None and day == onset and not drifting:
                v.profile = drift(v.profile, rng, drift_model)
                drifting = True
            due = (
                params.recertification_days is not None and day - certified_day >= params.recertification_days
            )
            n_gold = int(rng.binomial(params.items_per_day, params.hidden_gold_share))
            suspended_by_gold = False
            for _ in range(n_gold):
                fresh = [i for i in range(gold_bank.means.shape[0]) if i not in v.seen]
                if not fresh:
                    break
                item = int(rng.choice(fresh))
                v.seen.add(item)
                gold = gold_bank.means[[item]]
                errors.append(float(np.abs(simulate_answers(v.profile, gold, rng) - gold).mean()))
                work["hidden_gold_answers"] += 1
                status = hidden_gold_status(
                    errors[-params.hidden_gold_window :], rule=rule, window=params.hidden_gold_window,
                    warn_margin=params.warn_margin, suspend_margin=params.suspend_margin,
                )  # fmt: skip
                if status == "suspend":
                    suspended_by_gold = True
                    break
            if not (suspended_by_gold or due):
                continue
            if suspended_by_gold:
                work["suspended_hidden_gold"] += 1
                work["drifting_caught"] += drifting
            else:
                work["recertifications"] += 1
            work["drifting_rechecked"] += drifting
            if _exam_cycle(v, gold_bank, params, rng, learning, fails):
                work["requalified"] += 1
                certified_day = day
                errors = []  # a fresh window after re-qualifying
                if drifting:
                    drifting = False  # retraining and the exam reset the rater; drift stays in the bias
                continue
            exits[
                "failed re-qualification after hidden gold"
                if suspended_by_gold
                else "failed re-certification"
            ] += 1
            work["drifting_exited"] += drifting
            alive = False
            break
        if alive:
            staying.append(v)
            kind_end[v.profile.kind] += 1
    return {
        "invited": len(population),
        "rounds": [
            {
                "round": r["round"],
                "entered": r["entered"],
                "passed": r["passed"],
                "passed_by_attempt": {
                    str(k): r["passed_by_attempt"][k] for k in range(1, params.max_attempts + 1)
                },
            }
            for r in rounds
        ],
        "qualified": qualified,
        "certified": len(staying),
        "exited": len(population) - len(staying),
        "exits_by_cause": dict(exits),
        "fail_reasons": dict(fails),
        "retraining": {
            "items": sum(v.focused_items for v in volunteers),
            "qualification_items": qualification_retraining_items,
            "volunteers": sum(v.focused_items > 0 for v in volunteers),
            "feedback_items": sum(v.feedback_items for v in volunteers),
        },
        "work": work,
        "by_kind": {
            k: {"entered": kind_in[k], "qualified": kind_cert[k], "certified": kind_end[k]}
            for k in KINDS
            if kind_in[k]
        },
        "seed": seed,
    }
