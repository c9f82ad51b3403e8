"""Quality during formal work: hidden gold mixed into certified raters' scoring queues, a rolling monitor over
the last answers, and periodic re-certification (Celery beat ``qualification.recertification_tick``)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from annotation.exam_scoring import hidden_gold_status
from annotation.gold_skipping import SkipRule, SkipVerdict, gold_skip_verdict, skip_streak
from annotation.models import Image, User
from humanbeauty.db import prepared_cursor
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import (
    Attempt,
    AttemptItem,
    Enrollment,
    GoldItem,
    HiddenGoldExposure,
    Protocol,
    TrainingAnswer,
    Transition,
)
from ..selectors import gold_bank
from .bulk import update_rows
from .exams import pass_rule_of, protocol_of, seen_gold_ids_many, standard_dims
from .states import enrollment_transition, enrollment_transition_many, transition_locked

S = Enrollment.State
_random = random.Random()


def rater_is_certified(*, rater: User) -> bool:
    return rater_gold_share(rater=rater) is not None


# The third column is the hidden-gold follow-up of rater screening: a rater the latest re-aggregation flagged
# (straight-lining, random clicking, noisy, low agreement: ``RaterQuality.flagged``) gets more hidden gold until
# a later re-aggregation clears them, so the gold monitor confirms or clears the suspicion on expert-scored
# items quickly. Same statement for every rater and every item: it tells nothing about what is served.
_GOLD_SHARE_SQL = (
    "SELECT e.state, p.hidden_gold_share, EXISTS (SELECT 1 FROM {rater_quality} q WHERE q.rater_id = e.user_id "
    "AND q.flagged) FROM {enrollment} e LEFT JOIN {protocol} p ON p.id = e.protocol_id WHERE e.user_id = %s"
)
FOLLOW_UP_MAX_SHARE = 0.5  # at most every other item is gold, however large the factor


def follow_up_share(share: float, *, flagged: bool) -> float:
    """The hidden-gold share of a rater: the protocol's, raised by ``HB_GOLD_FOLLOW_UP_FACTOR`` (capped at
    ``FOLLOW_UP_MAX_SHARE``, never below the protocol's) while rater screening flags them."""
    if not flagged:
        return share
    return max(share, min(FOLLOW_UP_MAX_SHARE, share * settings.HB_GOLD_FOLLOW_UP_FACTOR))


def rater_gold_share(*, rater: User) -> float | None:
    """``None`` unless the rater is certified; else their protocol's hidden-gold share (admin-certified raters
    have no protocol: the default share), raised while rater screening flags them (``follow_up_share``). One
    statement: the scoring queue calls this on every request."""
    from annotation.scoring.models import RaterQuality

    sql = _GOLD_SHARE_SQL.format(
        enrollment=Enrollment._meta.db_table,
        protocol=Protocol._meta.db_table,
        rater_quality=RaterQuality._meta.db_table,
    )
    with prepared_cursor() as cur:
        cur.execute(sql, [rater.pk])
        row = cur.fetchone()
    if row is None or row[0] != S.CERTIFIED:
        return None
    share = (
        float(row[1]) if row[1] is not None else float(Protocol._meta.get_field("hidden_gold_share").default)
    )
    return follow_up_share(share, flagged=bool(row[2]))


@dataclass(frozen=True)
class GoldCandidate:
    gold_item_id: int
    image: Image


_IMAGE_FIELDS = [f.attname for f in Image._meta.concrete_fields]


def _candidate_sql() -> str:
    t = {m.__name__: m._meta.db_table for m in (GoldItem, HiddenGoldExposure, TrainingAnswer, AttemptItem)}
    t["Enrollment"], t["Attempt"], t["Image"] = (
        Enrollment._meta.db_table,
        Attempt._meta.db_table,
        Image._meta.db_table,
    )
    columns = ", ".join(f"i.{Image._meta.get_field(f).column}" for f in _IMAGE_FIELDS)
    return (
        f"SELECT g.id, {columns} FROM {t['GoldItem']} g JOIN {t['Image']} i ON i.sha256 = g.image_id "
        "WHERE g.standard_id = %s AND g.is_active "
        f"AND NOT EXISTS (SELECT 1 FROM {t['HiddenGoldExposure']} e WHERE e.gold_item_id = g.id "
        "AND e.rater_id = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {t['TrainingAnswer']} ta JOIN {t['Enrollment']} n ON n.id = "
        "ta.enrollment_id WHERE ta.gold_item_id = g.id AND n.user_id = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {t['AttemptItem']} ai JOIN {t['Attempt']} a ON a.id = ai.attempt_id "
        f"JOIN {t['Enrollment']} n2 ON n2.id = a.enrollment_id WHERE ai.gold_item_id = g.id "
        "AND n2.user_id = %s) "
        "ORDER BY random() LIMIT 1"
    )


def hidden_gold_candidate(*, rater: User, share: float, standard_id: int) -> GoldCandidate | None:
    """A gold item of ``standard_id`` this rater has never seen (training, exams, hidden gold), drawn with
    probability ``share``; nothing is written (:func:`hidden_gold_serve` records the exposure once the
    lease exists). One statement, run whatever the draw says, so pool and gold calls do the same work."""
    if share <= 0:
        return None
    with prepared_cursor() as cur:
        cur.execute(_candidate_sql(), [standard_id, rater.pk, rater.pk, rater.pk])
        row = cur.fetchone()
    if row is None or _random.random() >= share:
        return None
    return GoldCandidate(
        gold_item_id=row[0], image=Image.from_db(connection.alias, _IMAGE_FIELDS, list(row[1:]))
    )


def hidden_gold_serve(*, rater: User, gold_item_id: int, now: dt.datetime | None = None) -> None:
    """Record that ``gold_item_id`` was served to ``rater`` (idempotent; in the lease's transaction)."""
    sql = (
        f"INSERT INTO {HiddenGoldExposure._meta.db_table} (rater_id, gold_item_id, shown_at, reported, "
        "report_reason) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (rater_id, gold_item_id) DO NOTHING"
    )
    shown = connection.ops.adapt_datetimefield_value(now or timezone.now())
    with prepared_cursor() as cur:
        cur.execute(sql, [rater.pk, gold_item_id, shown, False, ""])


def hidden_gold_serve_sql(*, source: str) -> str:
    """For the queue's lease statement on PostgreSQL: an INSERT of the exposure for the row of ``source``
    (the lease CTE), params ``rater_id, gold_item_id, shown_at, gold_item_id``; it inserts nothing when
    ``gold_item_id`` is NULL, so pool and gold leases are written by one and the same statement."""
    return (
        f"INSERT INTO {HiddenGoldExposure._meta.db_table} (rater_id, gold_item_id, shown_at, reported, "
        f"report_reason) SELECT %s, %s::bigint, %s, false, '' FROM {source} WHERE %s::bigint IS NOT NULL "
        "ON CONFLICT (rater_id, gold_item_id) DO NOTHING"
    )


def hidden_gold_pick(*, rater: User, share: float | None = None) -> Image | None:
    """Draw (probability = the protocol's share) and serve a gold image this rater has never seen; record
    the exposure and return the image, else ``None``. The scoring queue uses the two halves
    (:func:`hidden_gold_candidate`, :func:`hidden_gold_serve`) around its own lease."""
    if share is None:
        share = rater_gold_share(rater=rater)
        if share is None:
            return None
    enrollment = Enrollment.objects.select_related("protocol__standard").filter(user=rater).first()
    if enrollment is None or enrollment.state != S.CERTIFIED:
        return None
    protocol = protocol_of(enrollment=enrollment)
    candidate = hidden_gold_candidate(rater=rater, share=share, standard_id=protocol.standard_id)
    if candidate is None:
        return None
    hidden_gold_serve(rater=rater, gold_item_id=candidate.gold_item_id)
    return candidate.image


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
    # What each has seen (training, exam forms, hidden gold): the same statement the exam forms use.
    seen_by_enrollment = seen_gold_ids_many(enrollments=list(enrollments.values()))
    seen = {e.user_id: seen_by_enrollment[e.pk] for e in enrollments.values()}
    banks: dict[int | None, tuple[list[int], dict[int, GoldItem]]] = {}
    picks: dict[int, GoldItem] = {}
    for rater in chosen:
        enrollment = enrollments.get(rater.pk)
        if enrollment is None:
            continue
        if enrollment.protocol_id not in banks:
            items = gold_bank(standard=protocol_of(enrollment=enrollment).standard).items
            banks[enrollment.protocol_id] = ([it.pk for it in items], {it.pk: it for it in items})
        ids, by_id = banks[enrollment.protocol_id]
        seen_by_rater = seen[rater.pk]
        candidates = [pk for pk in ids if pk not in seen_by_rater]
        if candidates:
            picks[rater.pk] = by_id[_random.choice(candidates)]
    if not picks:
        return {}
    # One insert; a concurrent pick that chose the same item for a rater wins, and that rater gets nothing
    # this time (the unique constraint says which rows went in).
    table = HiddenGoldExposure._meta.db_table
    shown = connection.ops.adapt_datetimefield_value(timezone.now())
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(picks))
    params: list[Any] = []
    for rater_id, item in picks.items():
        params += [rater_id, item.pk, shown, False, ""]
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (rater_id, gold_item_id, shown_at, reported, report_reason) VALUES {values} "
            "ON CONFLICT (rater_id, gold_item_id) DO NOTHING RETURNING rater_id",
            params,
        )
        inserted = {row[0] for row in cur.fetchall()}
    return {r: it.image for r, it in picks.items() if r in inserted}


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


# ------------------------------------------------------------------- answers (the scoring submit path)


@dataclass(frozen=True)
class GoldAnswer:
    scores: dict[str, float | None]
    reported: bool
    answered_at: dt.datetime


def _answer_sql() -> str:
    return (
        f"UPDATE {HiddenGoldExposure._meta.db_table} SET scores = %s, reported = %s, report_reason = %s, "
        "dwell_ms = %s, answered_at = %s WHERE rater_id = %s AND answered_at IS NULL AND gold_item_id = "
        f"(SELECT id FROM {GoldItem._meta.db_table} WHERE image_id = %s)"
    )


def hidden_gold_answer(
    *,
    rater: User,
    image_sha256: str,
    scores: dict[str, float | None],
    reported: bool,
    report_reason: str,
    dwell_ms: int | None,
    answered_at: dt.datetime,
) -> bool:
    """Store the rater's (already validated and rounded) answer to a served gold item; ``False`` if it was
    answered already (a concurrent duplicate) or never served. One statement; scoring it against the
    experts happens off the request path (:func:`hidden_gold_score_pending`)."""
    field = HiddenGoldExposure._meta.get_field("scores")
    params = [
        field.get_db_prep_save(scores, connection),
        bool(reported),
        (report_reason or "")[:500],
        dwell_ms,
        connection.ops.adapt_datetimefield_value(answered_at),
        rater.pk,
        image_sha256,
    ]
    with prepared_cursor() as cur:
        cur.execute(_answer_sql(), params)
        return cur.rowcount == 1


def hidden_gold_answer_get(*, rater: User, image_sha256: str) -> GoldAnswer | None:
    """The stored answer of ``rater`` to the gold item of this image, if answered."""
    row = (
        HiddenGoldExposure.objects.filter(
            rater=rater, gold_item__image_id=image_sha256, answered_at__isnull=False
        )
        .values_list("scores", "reported", "answered_at")
        .first()
    )
    if row is None:
        return None
    return GoldAnswer(scores=dict(row[0] or {}), reported=row[1], answered_at=row[2])


def hidden_gold_answered_count(*, rater: User, since: dt.datetime | None = None) -> int:
    qs = HiddenGoldExposure.objects.filter(rater=rater, answered_at__isnull=False)
    if since is not None:
        qs = qs.filter(answered_at__gte=since)
    return qs.count()


def hidden_gold_score_pending(*, rater_ids: list[int] | None = None) -> int:
    """Score answered, not yet scored hidden-gold answers against the expert means, then update each
    affected rater's rolling monitor (warn / suspend). Idempotent; run by the monitoring tick."""
    pending = HiddenGoldExposure.objects.filter(
        answered_at__isnull=False, abs_error__isnull=True
    ).select_related("gold_item")
    if rater_ids is not None:
        pending = pending.filter(rater_id__in=rater_ids)
    touched: set[int] = set()
    scored = 0
    for exposure in pending.order_by("answered_at", "id"):
        enrollment = Enrollment.objects.select_related("protocol__standard").filter(user_id=exposure.rater_id)
        enrollment = enrollment.first()
        if enrollment is None:
            continue
        protocol = protocol_of(enrollment=enrollment)
        keys = [d.key for d in standard_dims(protocol.standard)]
        answer = exposure.scores or {}
        if not any(answer.get(k) is not None for k in keys):
            continue
        exposure.abs_error = _abs_error(answer, exposure.gold_item.expert_mean, keys)
        exposure.save(update_fields=["abs_error"])
        touched.add(exposure.rater_id)
        scored += 1
    enrollments = list(Enrollment.objects.select_related("protocol__standard").filter(user_id__in=touched))
    if enrollments:
        _monitor_update_many(enrollments)
    return scored


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
    update_rows(HiddenGoldExposure, list(exposures.values()), ["scores", "answered_at", "abs_error"])
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
    warnings: list[Transition] = []
    stamp = timezone.now()
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
        enrollment.updated_at = stamp
        if status == "warn" and previous != "warn" and enrollment.state == S.CERTIFIED:
            warnings.append(
                Transition(
                    enrollment=enrollment,
                    from_state=enrollment.state,
                    to_state=enrollment.state,
                    reason=f"hidden-gold warning: rolling MAE {enrollment.monitor_mae:.3f} over the last {len(errors)}",
                )
            )
    if warnings:
        Transition.objects.bulk_create(warnings)
    update_rows(Enrollment, enrollments, ["monitor_status", "monitor_mae", "updated_at"])
    suspensions = [
        (
            enrollment,
            S.SUSPENDED,
            f"hidden gold: rolling MAE {enrollment.monitor_mae:.3f} over the last "
            f"{len(recent[enrollment.user_id])}",
        )
        for enrollment in enrollments
        if statuses[enrollment.user_id] == "suspend" and enrollment.state == S.CERTIFIED
    ]
    if suspensions:
        enrollment_transition_many(moves=suspensions)
    return statuses


# ------------------------------------------------------------------- skipping gold (annotation/gold_skipping.py)


@dataclass(frozen=True)
class GoldSkipRow:
    rater_id: int
    username: str
    state: str
    gold_served: int
    gold_answered: int
    gold_skipped: int
    gold_pending: int
    pool_rated: int
    pool_skipped: int
    verdict: SkipVerdict
    status: str  # as recorded on the enrollment (ok / flag / suspend)
    reason: str


def skip_rule() -> SkipRule:
    """The rule's parameters, overridable with ``HB_GOLD_SKIP_RULE`` (a dict of SkipRule fields)."""
    return SkipRule(**getattr(settings, "HB_GOLD_SKIP_RULE", {}))


def hidden_gold_skip_rows(
    *, pool_counts: dict[int, tuple[int, int]], holding: dict[int, str], rule: SkipRule | None = None
) -> list[GoldSkipRow]:
    """Per rater who was served hidden gold: served / answered / skipped / pending gold, the pool counts
    (``pool_counts[rater_id] = (rated, skipped)``, from the scoring app) and the verdict. An unanswered
    item is pending while the rater still holds its lease (``holding[rater_id] = image sha``), else it
    counts as skipped (skip, can't judge, report, or a lease left to expire)."""
    rule = rule or skip_rule()
    resolved: dict[int, list[bool]] = {}
    pending: dict[int, int] = {}
    # Only gold served since the rater's (latest) certification counts: re-certification starts afresh.
    since = Enrollment.objects.filter(user_id=OuterRef("rater_id")).values("certified_at")[:1]
    exposures = (
        HiddenGoldExposure.objects.annotate(since=Subquery(since))
        .filter(Q(since__isnull=True) | Q(shown_at__gte=F("since")))
        .order_by("shown_at", "id")
        .values_list("rater_id", "gold_item__image_id", "answered_at")
    )
    for rater_id, image_sha, answered_at in exposures:
        if answered_at is None and holding.get(rater_id) == image_sha:
            pending[rater_id] = pending.get(rater_id, 0) + 1
            resolved.setdefault(rater_id, [])
            continue
        resolved.setdefault(rater_id, []).append(answered_at is None)
    enrollments = {
        e.user_id: e for e in Enrollment.objects.select_related("user").filter(user_id__in=list(resolved))
    }
    rows = []
    for rater_id, skipped_flags in resolved.items():
        enrollment = enrollments.get(rater_id)
        if enrollment is None:
            continue
        rated, pool_skipped = pool_counts.get(rater_id, (0, 0))
        n_skipped = sum(skipped_flags)
        verdict = gold_skip_verdict(
            gold_answered=len(skipped_flags) - n_skipped,
            gold_skipped=n_skipped,
            pool_rated=rated,
            pool_skipped=pool_skipped,
            streak=skip_streak(skipped_flags),
            rule=rule,
        )
        rows.append(
            GoldSkipRow(
                rater_id=rater_id,
                username=enrollment.user.username,
                state=enrollment.state,
                gold_served=len(skipped_flags) + pending.get(rater_id, 0),
                gold_answered=len(skipped_flags) - n_skipped,
                gold_skipped=n_skipped,
                gold_pending=pending.get(rater_id, 0),
                pool_rated=rated,
                pool_skipped=pool_skipped,
                verdict=verdict,
                status=enrollment.gold_skip_status,
                reason=enrollment.gold_skip_reason,
            )
        )
    return sorted(rows, key=lambda r: r.username)


def hidden_gold_skip_review(
    *, pool_counts: dict[int, tuple[int, int]], holding: dict[int, str], rule: SkipRule | None = None
) -> dict[str, int]:
    """Apply the skip rule to every rater served hidden gold: record the status on the enrollment, log a
    warning when a certified rater is first flagged, and suspend (like a failed hidden-gold check) at the
    suspend level. Idempotent; run by the monitoring tick."""
    flagged = suspended = 0
    for row in hidden_gold_skip_rows(pool_counts=pool_counts, holding=holding, rule=rule):
        status = row.verdict.status
        # A flag lasts until the evidence clears; a suspension is recorded until re-certification.
        if status == row.status and (status == "ok" or row.verdict.reason == row.reason):
            continue
        with transaction.atomic():
            enrollment = Enrollment.objects.select_for_update().get(user_id=row.rater_id)
            previous = enrollment.gold_skip_status
            enrollment.gold_skip_status = status
            enrollment.gold_skip_reason = row.verdict.reason[:300]
            enrollment.save(update_fields=["gold_skip_status", "gold_skip_reason", "updated_at"])
            if enrollment.state != S.CERTIFIED:
                continue
            if status == "flag" and previous == "ok":
                Transition.objects.create(
                    enrollment=enrollment,
                    from_state=enrollment.state,
                    to_state=enrollment.state,
                    reason=f"hidden-gold skipping flagged: {row.verdict.reason}"[:500],
                )
                flagged += 1
            elif status == "suspend":
                enrollment_transition(
                    enrollment=enrollment,
                    to_state=S.SUSPENDED,
                    reason=f"hidden gold skipped: {row.verdict.reason}"[:500],
                )
                suspended += 1
    return {"flagged": flagged, "suspended": suspended}


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
        with transaction.atomic():
            # Locked with the condition re-checked after any wait: a rater who changed state meanwhile is
            # no longer due and is left alone.
            locked = list(due.select_for_update().order_by("id"))
            transition_locked(
                moves=[(e, S.SUSPENDED, "periodic re-certification due") for e in locked], now=now
            )
        suspended += len(locked)
    return {"suspended_for_recertification": suspended}
