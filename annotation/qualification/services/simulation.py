"""Run a simulated population (annotation/simulation.py) through the real services, end to end:
invitation → account → training (with feedback) → exam → retake after the delay → certified | exited.

Only the *answers* are simulated; every step is the service a person's click would call. The synthetic
gold bank lives under its own standard (``<standard>-sim``, same dimensions) so it never mixes with the
real gold bank.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation.models import Image, Standard
from annotation.services.images import image_ingest
from annotation.services.standards import standard_create_from_spec
from annotation.simulation import default_population, simulate_answers, synthetic_gold_bank

from ..models import Attempt, AttemptItem, Enrollment, GoldItem, Invitation
from ..selectors import protocol_funnel
from . import exams
from .gold import gold_item_upsert
from .protocols import invitation_accept, invitation_create_bulk, protocol_create, round_open


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
    profile: Any, items: list[Any], rng: np.random.Generator, keys: list[str]
) -> list[dict[str, float]]:
    gold = np.array([[float(it.gold_item.expert_mean[k]) for k in keys] for it in items])
    resp = simulate_answers(profile, gold, rng)
    return [{k: float(resp[i, j]) for j, k in enumerate(keys)} for i in range(len(items))]


def qualification_simulate(
    *,
    n_volunteers: int = 455,
    seed: int = 0,
    base_standard: str = "humanbeauty-v1",
    protocol_params: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Run the protocol for ``n_volunteers`` simulated people; returns the funnel and counts by kind."""
    now = now or timezone.now()
    standard = _sim_standard(base_standard)
    simulation_gold_bank(standard=standard, seed=seed)
    keys = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    params = {"name": f"Simulation seed {seed} ({n_volunteers} volunteers)", "cohort": "simulation"}
    params.update(protocol_params or {})
    protocol = protocol_create(standard=standard, **params)
    round_open(protocol=protocol)
    exams._random.seed(seed)
    rng = np.random.default_rng(seed + 1)
    population = default_population(n=n_volunteers, seed=seed)
    invitations = invitation_create_bulk(
        protocol=protocol,
        people=[
            {"email": f"sim{protocol.pk}-{p.rater_id}@example.invalid", "name": p.kind} for p in population
        ],
    )
    tokens = {inv.email: inv.token for inv in invitations}
    kinds_in: Counter[str] = Counter()
    kinds_cert: Counter[str] = Counter()
    passed_by_attempt: Counter[int] = Counter()
    for person in population:
        email = f"sim{protocol.pk}-{person.rater_id}@example.invalid"
        user = invitation_accept(
            token=tokens[email], username=f"sim{protocol.pk}-{person.rater_id}", password=None
        )
        enrollment = Enrollment.objects.select_related("protocol__standard", "user").get(user=user)
        kinds_in[person.kind] += 1
        exams.training_start(enrollment=enrollment)
        while (item := exams.training_next(enrollment=enrollment)) is not None:
            answer = _answers(person, [item], rng, keys)[0]
            exams.training_answer(enrollment=enrollment, answer_id=item.pk, scores=answer)
        clock = now
        who = person
        for _ in range(protocol.max_attempts):
            attempt = exams.exam_start(enrollment=enrollment, now=clock)
            items = list(
                AttemptItem.objects.filter(attempt=attempt).select_related("gold_item").order_by("position")
            )
            answers = dict(zip([it.position for it in items], _answers(who, items, rng, keys), strict=True))
            attempt = exams.attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers, now=clock)
            if attempt.passed:
                passed_by_attempt[attempt.number] += 1
                kinds_cert[person.kind] += 1
                break
            enrollment.refresh_from_db()
            if enrollment.state == Enrollment.State.EXITED:
                break
            who = person.trained()  # trained by the feedback (as in the pure simulation)
            clock = clock + protocol.retake_delay + dt.timedelta(minutes=1)
    funnel = protocol_funnel(protocol=protocol)
    return {
        "protocol": protocol.pk,
        "invited": Invitation.objects.filter(protocol=protocol).count(),
        "funnel": funnel,
        "passed_by_attempt": {str(k): passed_by_attempt[k] for k in sorted(passed_by_attempt)},
        "attempts": Attempt.objects.filter(enrollment__protocol=protocol).count(),
        "by_kind": {k: {"entered": kinds_in[k], "certified": kinds_cert[k]} for k in kinds_in},
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
