"""Run a simulated population (annotation/simulation.py) through the real services, end to end:
invitation → account → rounds of training (with feedback) → exam → retraining → retake → certified | exited,
then formal work with hidden gold, drift and periodic re-certification.

Only the *answers* are simulated; every step is the service a person's click would call. The synthetic
gold bank lives under its own standard (``<standard>-sim``, same dimensions) so it never mixes with the
real gold bank.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from annotation.exam_scoring import PassRule
from annotation.models import Image, Standard
from annotation.selectors import default_standard_key
from annotation.services.images import image_ingest
from annotation.services.standards import standard_create_from_spec
from annotation.simulation import (
    DriftModel,
    LearningModel,
    ProtocolParams,
    RaterProfile,
    default_population,
    drift,
    learn,
    simulate_answers,
    simulate_protocol,
    synthetic_gold_bank,
)
from humanbeauty.errors import ApplicationError

from ..models import Attempt, AttemptItem, Enrollment, GoldItem, Invitation
from ..selectors import protocol_funnel
from . import exams, monitoring
from .gold import gold_item_upsert
from .monitoring import hidden_gold_pick_many, hidden_gold_submit_many, recertification_tick
from .protocols import (
    invitation_accept_many,
    invitation_create_bulk,
    protocol_create,
    round_close,
    round_open,
)

SIM_BANK_SIZE = 300  # three rounds, retakes, retraining and hidden gold never reuse an item
ANALYZE_EVERY_DAYS = 30


def _analyze_tables() -> None:
    """Refresh PostgreSQL's statistics of the qualification tables. A real cohort's rounds are days apart
    and autovacuum analyses the tables meanwhile; the simulation runs months in one transaction, whose rows
    autovacuum cannot see, so the planner would keep the statistics of near-empty tables and scan whole
    tables where an index serves a few rows. ANALYZE inside the transaction counts its own rows."""
    if connection.vendor != "postgresql":
        return
    from django.apps import apps

    tables = ", ".join(
        connection.ops.quote_name(m._meta.db_table) for m in apps.get_app_config("qualification").get_models()
    )
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {tables}")


def _sim_standard(base_key: str) -> Standard:
    key = f"{base_key}-sim"
    existing = Standard.objects.filter(key=key).first()
    if existing is not None:
        return existing
    base = Standard.objects.get(key=base_key)
    dims = list(base.dimensions.order_by("order").select_related("parent"))
    return standard_create_from_spec(
        spec={
            "key": key,
            "name": f"{base.name} (simulation)",
            "description": "Same dimensions as the base standard; holds the synthetic gold bank of simulations.",
            "dimensions": [
                {"key": d.key, "name": d.name, "parent": d.parent.key if d.parent else None} for d in dims
            ],
        }
    )


def _tiny_jpeg(seed: int) -> bytes:
    import io

    from PIL import Image as PILImage

    arr = np.random.default_rng(seed).integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def simulation_gold_bank(*, standard: Standard, n_images: int = 150, seed: int = 0) -> list[GoldItem]:
    """The synthetic gold bank (idempotent: the same seed gives the same images and scores)."""
    existing = list(
        GoldItem.objects.filter(
            standard=standard, image__source="simulation", image__source_ref__startswith=f"sim-gold-{seed}-"
        )
    )
    if len(existing) == n_images:  # built by an earlier run with this seed
        return existing
    bank = synthetic_gold_bank(n_images=n_images, n_experts=5, seed=seed)
    keys = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    items = []
    for i in range(n_images):
        image, _ = image_ingest(
            data=_tiny_jpeg(10_000_000 + seed * 10_000 + i),
            provenance=Image.Provenance.GOLD,
            source="simulation",
            source_ref=f"sim-gold-{seed}-{i}",
        )
        item, _ = gold_item_upsert(
            image=image,
            standard=standard,
            mean={k: round(float(bank.means[i, j]), 3) for j, k in enumerate(keys)},
            sd={k: round(float(bank.sds[i, j]), 3) for j, k in enumerate(keys)},
            rationale=dict.fromkeys(keys, "synthetic expert consensus"),
            n_experts=5,
        )
        items.append(item)
    return items


def _answers(
    profile: Any, golds: list[GoldItem], rng: np.random.Generator, keys: list[str]
) -> list[dict[str, float]]:
    gold = np.array([[float(g.expert_mean[k]) for k in keys] for g in golds]).reshape(-1, len(keys))
    resp = simulate_answers(profile, gold, rng)
    return [{k: float(resp[i, j]) for j, k in enumerate(keys)} for i in range(len(golds))]


class _Sim:
    """Drives one simulated cohort through the services. Only the answers are simulated: the volunteer's
    profile changes only by :func:`annotation.simulation.learn` on each feedback the services return."""

    def __init__(
        self,
        protocol: Any,
        keys: list[str],
        rng: np.random.Generator,
        learning: LearningModel,
        gold: dict[int, GoldItem],
    ) -> None:
        self.protocol = protocol
        self.gold = gold  # gold item id -> item: what the simulated people look at
        self.keys = keys
        self.rng = rng
        self.learning = learning
        self.profiles: dict[int, RaterProfile] = {}  # enrollment id -> current profile
        self.kinds: dict[int, str] = {}
        self.feedback_items = 0
        self.retraining_items = 0
        self.retraining_volunteers: set[int] = set()

    def learn_from(self, enrollment_id: int, feedback: list[dict[str, Any]]) -> None:
        for fb in feedback:
            focus = frozenset(self.keys.index(k) for k in fb["focus_dimensions"])
            self.profiles[enrollment_id] = learn(
                self.profiles[enrollment_id], focus=focus, model=self.learning
            )
            self.feedback_items += 1
            if fb["retraining"]:
                self.retraining_items += 1
                self.retraining_volunteers.add(enrollment_id)

    def train(self, cohort: list[Enrollment]) -> None:
        """The round's training, or the retraining after a failed exam, of a whole cohort (bulk paths: every
        volunteer's items at once, then all their answers with the feedback of each)."""
        if not cohort:
            return
        batches = exams.training_next_batches(enrollments=cohort, n=1000)
        answers = []
        for enrollment in cohort:
            items = batches[enrollment.pk]
            if items:
                scores = _answers(
                    self.profiles[enrollment.pk], [a.gold_item for a in items], self.rng, self.keys
                )
                answers.append((enrollment, {a.pk: ans for a, ans in zip(items, scores, strict=True)}))
        for enrollment_id, feedback in exams.training_answer_cohort(answers=answers).items():
            self.learn_from(enrollment_id, feedback)

    def exam_cycle(self, cohort: list[Enrollment], clock: dt.datetime) -> tuple[dict[int, int], dt.datetime]:
        """Exams (retraining between) of a cohort until each has passed or exited: ({enrollment id: attempt
        that passed} for those who passed, the clock after). Every volunteer's attempt k is sat at the same
        time, ``retake_delay`` (and a minute) after attempt k − 1, through the cohort paths of the services."""
        passed: dict[int, int] = {}
        sitting = list(cohort)
        for k in range(self.protocol.max_attempts):
            if not sitting:
                break
            if k:
                clock = clock + self.protocol.retake_delay + dt.timedelta(minutes=1)
            attempts = exams.exam_start_many(enrollments=sitting, now=clock)
            forms: dict[int, list[AttemptItem]] = {a.pk: [] for a in attempts}
            # The volunteer sees the images; what they perceive is simulated from the items' expert means.
            for item in AttemptItem.objects.filter(attempt_id__in=list(forms)).order_by(
                "attempt_id", "position"
            ):
                forms[item.attempt_id].append(item)
            submissions = []
            for enrollment, attempt in zip(sitting, attempts, strict=True):
                items = forms[attempt.pk]
                scores = _answers(
                    self.profiles[enrollment.pk],
                    [self.gold[it.gold_item_id] for it in items],
                    self.rng,
                    self.keys,
                )
                submissions.append(
                    (enrollment, attempt, {it.position: a for it, a in zip(items, scores, strict=True)})
                )
            submitted = exams.attempts_submit_many(submissions=submissions, now=clock)
            failed = []
            for enrollment, attempt in zip(sitting, submitted, strict=True):
                if attempt.passed:
                    passed[enrollment.pk] = attempt.number
                else:
                    failed.append(enrollment)
            states = dict(Enrollment.objects.filter(pk__in=[e.pk for e in failed]).values_list("pk", "state"))
            sitting = [e for e in failed if states[e.pk] != Enrollment.State.EXITED]
            self.train(sitting)  # the targeted retraining, with feedback on each item
        return passed, clock


def qualification_simulate(
    *,
    n_volunteers: int = 455,
    seed: int = 0,
    base_standard: str | None = None,
    protocol_params: dict[str, Any] | None = None,
    scoring_days: int = 120,
    items_per_day: int = 4,
    learning: LearningModel | None = None,
    drift_model: DriftModel | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Run the whole protocol for ``n_volunteers`` simulated people through the services.

    Rounds 1..n_iterations (the admin opens each, volunteers train, sit exams, retrain after a failure and
    retake, then the admin closes it), then ``scoring_days`` of formal work: each of a certified rater's
    ``items_per_day`` queue requests asks :func:`hidden_gold_pick_many` (the bulk path of
    :func:`hidden_gold_pick`, the contract the scoring queue uses: one request from every working rater at
    once) and answers what it serves with :func:`hidden_gold_submit_many`; the daily :func:`recertification_tick` suspends
    those due; suspended raters (by hidden gold or the re-check) re-qualify (exam, retraining, retake) or
    exit. A share of raters drifts during the period (:class:`DriftModel`). Returns the funnel per round,
    exits by cause, the retraining delivered and counts by kind (same keys as ``simulate_protocol``).
    """
    now = now or timezone.now()
    learning = learning or LearningModel()
    drift_model = drift_model or DriftModel()
    standard = _sim_standard(base_standard or default_standard_key())
    simulation_gold_bank(standard=standard, seed=seed, n_images=SIM_BANK_SIZE)
    # Every active item of the standard may be served as hidden gold: banks of other seeds (kept runs) too.
    gold = {it.pk: it for it in GoldItem.objects.filter(standard=standard, is_active=True)}
    gold_by_sha = {it.image_id: it for it in gold.values()}
    keys = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    params = {"name": f"Simulation seed {seed} ({n_volunteers} volunteers)", "cohort": "simulation"}
    params.update(protocol_params or {})
    protocol = protocol_create(standard=standard, **params)
    exams._random.seed(seed)
    monitoring._random.seed(seed + 2)
    rng = np.random.default_rng(seed + 1)
    sim = _Sim(protocol, keys, rng, learning, gold)
    population = default_population(n=n_volunteers, seed=seed)
    invitations = invitation_create_bulk(
        protocol=protocol,
        people=[
            {"email": f"sim{protocol.pk}-{p.rater_id}@example.invalid", "name": p.kind} for p in population
        ],
    )
    tokens = {inv.email: inv.token for inv in invitations}
    users = invitation_accept_many(  # everyone follows their link (the bulk path of invitation_accept)
        accepts=[
            (tokens[f"sim{protocol.pk}-{p.rater_id}@example.invalid"], f"sim{protocol.pk}-{p.rater_id}", None)
            for p in population
        ]
    )
    by_user = {
        e.user_id: e
        for e in Enrollment.objects.select_related("protocol__standard", "user").filter(user__in=users)
    }
    enrollments: list[Enrollment] = []
    for person, user in zip(population, users, strict=True):
        enrollment = by_user[user.pk]
        sim.profiles[enrollment.pk] = person
        sim.kinds[enrollment.pk] = person.kind
        enrollments.append(enrollment)
    rounds: list[dict[str, Any]] = []
    active = enrollments
    clock = now
    for number in range(1, protocol.n_iterations + 1):
        rnd = round_open(protocol=protocol)
        if number == 1:
            exams.training_start_many(enrollments=active)
        sim.train(active)
        _analyze_tables()
        passed_at, round_end = sim.exam_cycle(active, clock)
        passed_by_attempt = Counter(passed_at.values())
        passed = [e for e in active if e.pk in passed_at]
        _analyze_tables()
        round_close(round=rnd)
        rounds.append(
            {
                "round": number,
                "entered": len(active),
                "passed": len(passed),
                "passed_by_attempt": {
                    str(k): passed_by_attempt[k] for k in range(1, protocol.max_attempts + 1)
                },
            }
        )
        active = passed
        clock = round_end + dt.timedelta(days=1)
    qualified = {e.pk for e in active}
    qualification_retraining = sim.retraining_items
    # ---- formal work: hidden gold through the queue's contract, drift, daily re-certification tick
    work = {"hidden_gold_answers": 0, "drifting": 0, "suspended_hidden_gold": 0, "recertifications": 0,
            "requalified": 0, "drifting_caught": 0, "drifting_rechecked": 0, "drifting_exited": 0}  # fmt: skip
    exits: Counter[str] = Counter()
    onset = {
        e.pk: int(rng.integers(0, scoring_days))
        for e in active
        if scoring_days > 0 and rng.random() < drift_model.share
    }
    work["drifting"] = len(onset)
    drifting: set[int] = set()
    working = list(active)
    start = clock
    for day in range(scoring_days):
        today = start + dt.timedelta(days=day)
        if day and day % ANALYZE_EVERY_DAYS == 0:
            _analyze_tables()
        suspended: dict[int, str] = {}
        for enrollment in working:
            if onset.get(enrollment.pk) == day:
                sim.profiles[enrollment.pk] = drift(sim.profiles[enrollment.pk], rng, drift_model)
                drifting.add(enrollment.pk)
        by_user = {e.user_id: e for e in working}
        for _ in range(items_per_day):  # each rater's queue requests of the day, all raters at once
            asking = [e.user for e in working if e.pk not in suspended]
            served = hidden_gold_pick_many(raters=asking, share=protocol.hidden_gold_share)
            if not served:
                continue
            answers = [
                (
                    by_user[user_id].user,
                    image,
                    _answers(sim.profiles[by_user[user_id].pk], [gold_by_sha[image.sha256]], rng, keys)[0],
                )
                for user_id, image in served.items()
            ]
            statuses = hidden_gold_submit_many(answers=answers)
            work["hidden_gold_answers"] += len(answers)
            for user_id, status in statuses.items():
                if status == "suspend":  # the monitor suspended this (certified) rater
                    suspended[by_user[user_id].pk] = "hidden gold"
        recertification_tick(now=today, protocol=protocol)
        for pk in Enrollment.objects.filter(
            pk__in=[e.pk for e in working], state=Enrollment.State.SUSPENDED
        ).values_list("pk", flat=True):
            suspended.setdefault(pk, "re-certification")
        if not suspended:
            continue
        rechecked = [e for e in working if e.pk in suspended]
        for enrollment in rechecked:
            if suspended[enrollment.pk] == "hidden gold":
                work["suspended_hidden_gold"] += 1
                work["drifting_caught"] += enrollment.pk in drifting
            else:
                work["recertifications"] += 1
            work["drifting_rechecked"] += enrollment.pk in drifting
        requalified, _ = sim.exam_cycle(rechecked, today)
        for enrollment in rechecked:
            if enrollment.pk in requalified:
                work["requalified"] += 1
                drifting.discard(enrollment.pk)
            else:
                exits[
                    "failed re-qualification after hidden gold"
                    if suspended[enrollment.pk] == "hidden gold"
                    else "failed re-certification"
                ] += 1
                work["drifting_exited"] += enrollment.pk in drifting
        working = [e for e in working if e.pk not in suspended or e.pk in requalified]
    for r in rounds:
        failed = r["entered"] - r["passed"]
        if failed:
            exits[f"failed round {r['round']}"] += failed
    staying = {e.pk for e in working}
    kind_in = Counter(sim.kinds.values())
    funnel = protocol_funnel(protocol=protocol)
    return {
        "protocol": protocol.pk,
        "invited": Invitation.objects.filter(protocol=protocol).count(),
        "joined": funnel["joined"],
        "rounds": rounds,
        "qualified": len(qualified),
        "certified": len(staying),
        "exited": funnel["exited"],
        "exits_by_cause": dict(exits),
        "retraining": {
            "items": sim.retraining_items,
            "qualification_items": qualification_retraining,
            "volunteers": len(sim.retraining_volunteers),
            "feedback_items": sim.feedback_items,
        },
        "work": work,
        "attempts": Attempt.objects.filter(enrollment__protocol=protocol).count(),
        "by_kind": {
            k: {
                "entered": kind_in[k],
                "qualified": sum(1 for pk in qualified if sim.kinds[pk] == k),
                "certified": sum(1 for pk in staying if sim.kinds[pk] == k),
            }
            for k in kind_in
        },
        "funnel": funnel,
        "seed": seed,
    }


class _Rollback(Exception):
    pass


def qualification_simulate_dry(**kwargs: Any) -> dict[str, Any]:
    """Run :func:`qualification_simulate` inside a transaction and roll it back (the default of the command)."""
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            result = qualification_simulate(**kwargs)
            raise _Rollback
    except _Rollback:
        pass
    return result


PREDICTION_PARAMS = ("max_mae", "min_mean_srcc", "max_abs_bias", "n_iterations", "n_training", "n_scored",
                     "n_warmup", "max_attempts", "n_retraining", "hidden_gold_share")  # fmt: skip


def protocol_params_of(protocol: Any, overrides: dict[str, Any] | None = None, **work: Any) -> ProtocolParams:
    """The pure simulation's parameters for ``protocol`` (a ``Protocol``), with proposed ``overrides``."""
    values = {k: getattr(protocol, k) for k in PREDICTION_PARAMS} | dict(overrides or {})
    interval = values.pop("recertification_interval", protocol.recertification_interval)
    return ProtocolParams(
        rule=PassRule(
            max_mae=float(values.pop("max_mae")),
            min_mean_srcc=float(values.pop("min_mean_srcc")),
            max_abs_bias=float(values.pop("max_abs_bias")),
        ),
        recertification_days=interval.days if interval else None,
        hidden_gold_window=protocol.hidden_gold_window,
        warn_margin=protocol.warn_margin,
        suspend_margin=protocol.suspend_margin,
        **{k: int(v) if k != "hidden_gold_share" else float(v) for k, v in values.items()},
        **work,
    )


def protocol_predict(
    *,
    protocol: Any,
    overrides: dict[str, Any] | None = None,
    n_volunteers: int = 455,
    seed: int = 0,
    scoring_days: int = 120,
) -> dict[str, Any]:
    """Predicted funnel of ``protocol`` with proposed parameter ``overrides`` ("what if"), from the pure
    simulation on the documented population and a synthetic bank. Writes nothing."""
    params = protocol_params_of(protocol, overrides, scoring_days=scoring_days)
    if params.n_scored + params.n_warmup > SIM_BANK_SIZE:
        raise ApplicationError(f"A form of {params.n_scored + params.n_warmup} items does not fit the bank.")
    result = simulate_protocol(
        default_population(n=n_volunteers, seed=seed),
        synthetic_gold_bank(n_images=SIM_BANK_SIZE, seed=seed),
        params,
        seed=seed,
    )
    result["params"] = {k: getattr(params, k) for k in ("n_iterations", "max_attempts", "n_retraining")} | {
        "max_mae": params.rule.max_mae,
        "min_mean_srcc": params.rule.min_mean_srcc,
        "max_abs_bias": params.rule.max_abs_bias,
    }
    return result
