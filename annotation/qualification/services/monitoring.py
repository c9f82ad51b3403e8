"""Quality during formal work: hidden gold mixed into certified raters' scoring queues, a rolling monitor over
the last answers, and periodic re-certification (Celery beat ``qualification.recertification_tick``)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Avg, QuerySet
from django.utils import timezone

from annotation.exam_scoring import hidden_gold_status, score_exam
from annotation.models import Image, User
from humanbeauty.db import prepared_cursor
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import Enrollment, GoldItem, HiddenGoldExposure, Protocol, Transition
from .exams import pass_rule_of, protocol_of, seen_gold_ids, standard_dims
from .states import enrollment_transition

S = Enrollment.State
_random = random.Random()


def rater_is_certified(*, rater: User) -> bool:
    return rater_gold_share(rater=rater) is not None


_GOLD_SHARE_SQL = (
    "SELECT e.state, p.hidden_gold_share FROM {enrollment} e LEFT JOIN {protocol} p ON p.id = e.protocol_id "
    "WHERE e.user_id = %s"
)


def rater_gold_share(*, rater: User) -> float | None:
    """``None`` unless the rater is certified; else their protocol's hidden-gold share (admin-certified raters
    have no protocol: the default share). One statement: the scoring queue calls this on every request."""
    sql = _GOLD_SHARE_SQL.format(enrollment=Enrollment._meta.db_table, protocol=Protocol._meta.db_table)
    with prepared_cursor() as cur:
        cur.execute(sql, [rater.pk])
        row = cur.fetchone()
    if row is None or row[0] != S.CERTIFIED:
        return None
    return (
        float(row[1]) if row[1] is not None else float(Protocol._meta.get_field("hidden_gold_share").default)
    )


def hidden_gold_pick(*, rater: User, share: float | None = None) -> Image | None:
    """With probability = the protocol's hidden-gold share, pick a gold image this rater has never seen
    (training, exams or earlier hidden gold), record the exposure and return its image; else ``None``.
    ``share``: the value :func:`rater_gold_share` already returned (saves the lookup on the common path)."""
    if share is None:
        share = rater_gold_share(rater=rater)
        if share is None:
            return None
    if _random.random() >= share:
        return None
    enrollment = Enrollment.objects.select_related("protocol__standard", "user").filter(user=rater).first()
    if enrollment is None or enrollment.state != S.CERTIFIED:
        return None
    protocol = protocol_of(enrollment=enrollment)
    seen = seen_gold_ids(enrollment=enrollment)
    candidates = list(
        GoldItem.objects.filter(standard=protocol.standard, is_active=True)
        .exclude(pk__in=seen)
        .values_list("pk", flat=True)
    )
    if not candidates:
        return None
    gold_id = _random.choice(candidates)
    try:
        with transaction.atomic():
            exposure = HiddenGoldExposure.objects.create(rater=rater, gold_item_id=gold_id)
    except IntegrityError:  # a concurrent pick chose the same item
        return None
    return Image.objects.get(sha256=exposure.gold_item.image_id)


def hidden_gold_errors(*, rater_ids: list[int]) -> dict[int, float]:
    """Mean absolute error (vs the expert mean) of each rater's answered hidden-gold items; raters without
    an answered item are absent. For admin/researcher reports only, never for the rater."""
    rows = (
        HiddenGoldExposure.objects.filter(rater_id__in=rater_ids, abs_error__isnull=False)
        .order_by()
        .values("rater_id")
        .annotate(e=Avg("abs_error"))
    )
    return {r["rater_id"]: float(r["e"]) for r in rows}


def hidden_gold_image_shas(*, rater: User) -> QuerySet:
    return HiddenGoldExposure.objects.filter(rater=rater).values_list("gold_item__image_id", flat=True)


@transaction.atomic
def hidden_gold_submit(*, rater: User, image: Image, scores: dict[str, float | None]) -> None:
    """Record the rater's answer to a hidden-gold item, update the rolling window and warn or suspend."""
    exposure = (
        HiddenGoldExposure.objects.select_for_update()
        .select_related("gold_item")
        .filter(rater=rater, gold_item__image_id=image.sha256)
        .first()
    )
    if exposure is None:
        raise ApplicationError("This image was not served to this rater as hidden gold.", status=404)
    if exposure.answered_at is not None:
        raise ConflictError("This item has already been answered.")
    enrollment = Enrollment.objects.select_related("protocol__standard").get(user=rater)
    protocol = protocol_of(enrollment=enrollment)
    keys = [d.key for d in standard_dims(protocol.standard)]
    cleaned = _validate_allow_missing(protocol, dict(scores or {}), keys)
    answered = [k for k in keys if cleaned.get(k) is not None]
    exposure.scores = cleaned
    exposure.answered_at = timezone.now()
    if answered:
        resp = np.array([[cleaned[k] if cleaned[k] is not None else np.nan for k in keys]])
        gold = np.array([[float(exposure.gold_item.expert_mean[k]) for k in keys]])
        exposure.abs_error = score_exam(resp, gold, rule=pass_rule_of(protocol)).mae
    exposure.save(update_fields=["scores", "answered_at", "abs_error"])
    hidden_gold_monitor_update(enrollment=enrollment, protocol=protocol)


def _validate_allow_missing(
    protocol: Protocol, scores: dict[str, Any], keys: list[str]
) -> dict[str, float | None]:
    from annotation.services.standards import standard_validate_scores

    standard = protocol.standard
    cleaned, _ = standard_validate_scores(
        dimensions=standard_dims(standard),
        score_min=standard.score_min,
        score_max=standard.score_max,
        scores={k: scores.get(k) for k in keys} | {k: v for k, v in scores.items() if k not in keys},
        allow_missing=frozenset(keys),
    )
    return cleaned


def hidden_gold_monitor_update(*, enrollment: Enrollment, protocol: Protocol) -> str:
    """Recompute the rolling status from the last ``window`` answered hidden-gold items (idempotent)."""
    window = protocol.hidden_gold_window
    errors = list(
        HiddenGoldExposure.objects.filter(rater_id=enrollment.user_id, abs_error__isnull=False)
        .order_by("-answered_at", "-id")
        .values_list("abs_error", flat=True)[:window]
    )[::-1]
    status = hidden_gold_status(
        errors,
        rule=pass_rule_of(protocol),
        window=window,
        warn_margin=protocol.warn_margin,
        suspend_margin=protocol.suspend_margin,
    )
    previous = enrollment.monitor_status
    enrollment.monitor_status = status
    enrollment.monitor_mae = float(np.mean(errors)) if errors else None
    enrollment.save(update_fields=["monitor_status", "monitor_mae", "updated_at"])
    if status == "warn" and previous != "warn" and enrollment.state == S.CERTIFIED:
        Transition.objects.create(
            enrollment=enrollment,
            from_state=enrollment.state,
            to_state=enrollment.state,
            reason=f"hidden-gold warning: rolling MAE {enrollment.monitor_mae:.3f} over the last {len(errors)}",
        )
    if status == "suspend" and enrollment.state == S.CERTIFIED:
        enrollment_transition(
            enrollment=enrollment,
            to_state=S.SUSPENDED,
            reason=f"hidden gold: rolling MAE {enrollment.monitor_mae:.3f} over the last {len(errors)}",
        )
    return status


def recertification_tick(
    *, now: dt.datetime | None = None, protocol: Protocol | None = None
) -> dict[str, Any]:
    """Suspend certified raters whose certification is older than their protocol's re-certification
    interval (they re-qualify on a fresh form). Safe to run any number of times. ``protocol``: only that
    protocol's raters (the simulation); default all."""
    now = now or timezone.now()
    suspended = 0
    protocols = Protocol.objects.filter(recertification_interval__isnull=False)
    if protocol is not None:
        protocols = protocols.filter(pk=protocol.pk)
    for proto in protocols:
        due = Enrollment.objects.filter(
            protocol=proto, state=S.CERTIFIED, certified_at__lte=now - proto.recertification_interval
        )
        for enrollment in due:
            try:
                enrollment_transition(
                    enrollment=enrollment,
                    to_state=S.SUSPENDED,
                    reason="periodic re-certification due",
                    now=now,
                )
            except ConflictError:  # changed state meanwhile
                continue
            suspended += 1
    return {"suspended_for_recertification": suspended}
