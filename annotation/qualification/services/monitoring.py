"""Quality during formal work: hidden gold mixed into certified raters' scoring queues, a rolling monitor over
the last answers, and periodic re-certification (Celery beat ``qualification.recertification_tick``)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Avg, F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from annotation.exam_scoring import hidden_gold_status
from annotation.models import Image, User
from humanbeauty.db import prepared_cursor
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import (
    AttemptItem,
    Enrollment,
    GoldItem,
    HiddenGoldExposure,
    Protocol,
    TrainingAnswer,
    Transition,
)
from ..selectors import gold_bank
from .exams import pass_rule_of, protocol_of, standard_dims
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
    return hidden_gold_pick_many(raters=[rater], share=share).get(rater.pk)


def _seen_by_user(user_ids: list[int]) -> dict[int, set[int]]:
    """Gold items each user has seen (training, exam forms, hidden gold): one statement for all of them."""
    training = (
        TrainingAnswer.objects.filter(enrollment__user_id__in=user_ids)
        .order_by()
        .values_list("enrollment__user_id", "gold_item_id")
    )
    exam = (
        AttemptItem.objects.filter(attempt__enrollment__user_id__in=user_ids)
        .order_by()
        .values_list("attempt__enrollment__user_id", "gold_item_id")
    )
    hidden = (
        HiddenGoldExposure.objects.filter(rater_id__in=user_ids)
        .order_by()
        .values_list("rater_id", "gold_item_id")
    )
    seen: dict[int, set[int]] = {u: set() for u in user_ids}
    for user_id, gold_id in training.union(exam, hidden, all=True):
        seen[user_id].add(gold_id)
    return seen


def hidden_gold_pick_many(*, raters: list[User], share: float) -> dict[int, Image]:
    """One queue request from each of ``raters`` (bulk path of :func:`hidden_gold_pick`, same rule): with
    probability ``share`` each certified rater gets a gold image they have never seen and its exposure is
    recorded. Returns ``{rater id: image}`` for the raters who got one. A constant number of statements
    whatever the number of raters; if a concurrent pick took the same item for a rater, that rater gets
    nothing this time (as in the single pick)."""
    chosen = [r for r in raters if _random.random() < share]
    if not chosen:
        return {}
    enrollments = {
        e.user_id: e
        for e in Enrollment.objects.select_related("protocol__standard").filter(
            user_id__in=[r.pk for r in chosen], state=S.CERTIFIED
        )
    }
    if not enrollments:
        return {}
    seen = _seen_by_user(list(enrollments))
    banks: dict[int | None, list[GoldItem]] = {}
    picks: dict[int, GoldItem] = {}
    for rater in chosen:
        enrollment = enrollments.get(rater.pk)
        if enrollment is None:
            continue
        if enrollment.protocol_id not in banks:
            standard = protocol_of(enrollment=enrollment).standard
            banks[enrollment.protocol_id] = gold_bank(standard=standard).items
        candidates = [it for it in banks[enrollment.protocol_id] if it.pk not in seen[rater.pk]]
        if candidates:
            picks[rater.pk] = _random.choice(candidates)
    exposures = [HiddenGoldExposure(rater_id=r, gold_item_id=it.pk) for r, it in picks.items()]
    try:
        with transaction.atomic():
            HiddenGoldExposure.objects.bulk_create(exposures)
    except IntegrityError:  # a concurrent pick chose the same item for some rater: insert one by one
        for exposure in exposures:
            try:
                with transaction.atomic():
                    exposure.save()
            except IntegrityError:
                del picks[exposure.rater_id]
    return {r: it.image for r, it in picks.items()}


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


def hidden_gold_submit(*, rater: User, image: Image, scores: dict[str, float | None]) -> str:
    """Record the rater's answer to a hidden-gold item, update the rolling window and warn or suspend;
    returns the monitor's status (``ok``, ``warn`` or ``suspend``: the rater is now suspended)."""
    return hidden_gold_submit_many(answers=[(rater, image, scores)])[rater.pk]


def _abs_error(cleaned: dict[str, float | None], expert: dict[str, Any], keys: list[str]) -> float | None:
    """MAE over the answered dimensions vs the expert mean (the exam's MAE on one item); None if none."""
    pairs = [(cleaned[k], float(expert[k])) for k in keys if cleaned.get(k) is not None]
    if not pairs:
        return None
    return float(np.mean([abs(r - g) for r, g in pairs]))


@transaction.atomic
def hidden_gold_submit_many(*, answers: list[tuple[User, Image, dict[str, float | None]]]) -> dict[int, str]:
    """Answers of several raters to the hidden gold served to them (bulk path of :func:`hidden_gold_submit`,
    at most one answer per rater): all or nothing. Returns ``{rater id: monitor status}``."""
    raters = [r.pk for r, _, _ in answers]
    if len(set(raters)) != len(raters):
        raise ApplicationError("At most one hidden-gold answer per rater in one call.")
    wanted = {(r.pk, image.sha256) for r, image, _ in answers}
    exposures = {
        (e.rater_id, e.gold_item.image_id): e
        for e in HiddenGoldExposure.objects.select_for_update(of=("self",))
        .select_related("gold_item")
        .filter(rater_id__in=raters, gold_item__image_id__in=[sha for _, sha in wanted])
        if (e.rater_id, e.gold_item.image_id) in wanted
    }
    enrollments = {
        e.user_id: e
        for e in Enrollment.objects.select_related("protocol__standard").filter(user_id__in=raters)
    }
    now = timezone.now()
    for rater, image, scores in answers:
        exposure = exposures.get((rater.pk, image.sha256))
        if exposure is None:
            raise ApplicationError("This image was not served to this rater as hidden gold.", status=404)
        if exposure.answered_at is not None:
            raise ConflictError("This item has already been answered.")
        protocol = protocol_of(enrollment=enrollments[rater.pk])
        keys = [d.key for d in standard_dims(protocol.standard)]
        cleaned = _validate_allow_missing(protocol, dict(scores or {}), keys)
        exposure.scores = cleaned
        exposure.answered_at = now
        exposure.abs_error = _abs_error(cleaned, exposure.gold_item.expert_mean, keys)
    HiddenGoldExposure.objects.bulk_update(list(exposures.values()), ["scores", "answered_at", "abs_error"])
    return _monitor_update_many([enrollments[r] for r in raters])


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


def hidden_gold_monitor_update(*, enrollment: Enrollment) -> str:
    """Recompute the rolling status from the last ``window`` answered hidden-gold items (idempotent)."""
    return _monitor_update_many([enrollment])[enrollment.user_id]


def _monitor_update_many(enrollments: list[Enrollment]) -> dict[int, str]:
    """The rolling hidden-gold status of each enrollment from its last ``window`` answered items (one
    statement for the windows of all of them); warns and suspends as the status says."""
    protocols = {e.user_id: protocol_of(enrollment=e) for e in enrollments}
    longest = max(p.hidden_gold_window for p in protocols.values())
    ranked = (
        HiddenGoldExposure.objects.filter(rater_id__in=list(protocols), abs_error__isnull=False)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("rater_id")], order_by=[F("answered_at").desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=longest)
        .order_by("rater_id", "rank")
        .values_list("rater_id", "abs_error", "rank")
    )
    recent: dict[int, list[float]] = {u: [] for u in protocols}
    for rater_id, error, rank in ranked:
        if rank <= protocols[rater_id].hidden_gold_window:
            recent[rater_id].append(error)
    statuses: dict[int, str] = {}
    for enrollment in enrollments:
        protocol = protocols[enrollment.user_id]
        errors = recent[enrollment.user_id][::-1]  # oldest first
        status = hidden_gold_status(
            errors,
            rule=pass_rule_of(protocol),
            window=protocol.hidden_gold_window,
            warn_margin=protocol.warn_margin,
            suspend_margin=protocol.suspend_margin,
        )
        statuses[enrollment.user_id] = status
        previous = enrollment.monitor_status
        enrollment.monitor_status = status
        enrollment.monitor_mae = float(np.mean(errors)) if errors else None
        enrollment.updated_at = timezone.now()
        if status == "warn" and previous != "warn" and enrollment.state == S.CERTIFIED:
            Transition.objects.create(
                enrollment=enrollment,
                from_state=enrollment.state,
                to_state=enrollment.state,
                reason=f"hidden-gold warning: rolling MAE {enrollment.monitor_mae:.3f} over the last {len(errors)}",
            )
    Enrollment.objects.bulk_update(enrollments, ["monitor_status", "monitor_mae", "updated_at"])
    for enrollment in enrollments:
        if statuses[enrollment.user_id] == "suspend" and enrollment.state == S.CERTIFIED:
            enrollment_transition(
                enrollment=enrollment,
                to_state=S.SUSPENDED,
                reason=f"hidden gold: rolling MAE {enrollment.monitor_mae:.3f} over the last "
                f"{len(recent[enrollment.user_id])}",
            )
    return statuses


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
