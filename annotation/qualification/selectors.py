"""Reads of the qualification app. Nothing here returns gold scores to volunteer-facing code except
:func:`training_feedback` (after the training answer) and :func:`attempt_review` (after submission)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.signals import post_delete, post_save

from annotation.exam_scoring import gold_coverage
from annotation.models import Standard, User
from annotation.selectors import default_standard
from humanbeauty.errors import NotFoundError

from .models import (
    Attempt,
    Enrollment,
    GoldItem,
    Invitation,
    Protocol,
    Retraining,
    Round,
    TrainingAnswer,
    Transition,
)


@dataclass(frozen=True)
class GoldBank:
    items: list[GoldItem]
    keys: list[str]
    means: np.ndarray  # [n, D] in the standard's dimension order
    sds: np.ndarray


def standard_dimension_keys(*, standard: Standard) -> list[str]:
    return list(standard.dimensions.order_by("order").values_list("key", flat=True))


# Cache of loaded banks, one per standard: {standard pk: (fingerprint, loaded at, bank)}. Design: every exam
# form, retraining and hidden-gold pick needs the whole active bank (hundreds of rows of JSON); loading it
# each time dominated the cost of a simulated cohort. One aggregate statement (count, max and sum of the
# active ids) tells whether the bank's membership changed since it was loaded — adding, deactivating or
# reactivating an item changes it — and a GoldItem save in this process clears the cache (signal below).
# An expert-mean edit made by *another* process is picked up within GOLD_BANK_TTL_S. Scoring never reads
# the cache: it uses the attempt's own items, loaded fresh.
GOLD_BANK_TTL_S = 60.0
_GOLD_BANKS: dict[int, tuple[tuple[int, int | None, int | None], float, GoldBank]] = {}


def gold_bank_cache_clear(**_: Any) -> None:
    _GOLD_BANKS.clear()


def _load_gold_bank(standard: Standard) -> GoldBank:
    keys = standard_dimension_keys(standard=standard)
    items = list(
        GoldItem.objects.filter(standard=standard, is_active=True).select_related("image").order_by("id")
    )
    means = np.array([[float(it.expert_mean[k]) for k in keys] for it in items], dtype=np.float64).reshape(
        -1, len(keys)
    )
    sds = np.array(
        [[float(it.expert_sd.get(k, 0.0)) for k in keys] for it in items], dtype=np.float64
    ).reshape(-1, len(keys))
    return GoldBank(items=items, keys=keys, means=means, sds=sds)


def gold_bank(*, standard: Standard) -> GoldBank:
    """The active gold items of ``standard`` (ordered by id) with their expert means and SDs as arrays.
    Cached per process (see the note above): one aggregate statement when the bank has not changed."""
    agg = GoldItem.objects.filter(standard=standard, is_active=True).aggregate(
        n=Count("id"), top=Max("id"), total=Sum("id")
    )
    fingerprint = (agg["n"], agg["top"], agg["total"])
    cached = _GOLD_BANKS.get(standard.pk)
    now = time.monotonic()
    if cached is not None and cached[0] == fingerprint and now - cached[1] < GOLD_BANK_TTL_S:
        return cached[2]
    bank = _load_gold_bank(standard)
    _GOLD_BANKS[standard.pk] = (fingerprint, now, bank)
    return bank


post_save.connect(gold_bank_cache_clear, sender=GoldItem, dispatch_uid="qualification-gold-bank-cache")
post_delete.connect(gold_bank_cache_clear, sender=GoldItem, dispatch_uid="qualification-gold-bank-cache-d")


def gold_bank_coverage(*, standard: Standard) -> dict[str, Any]:
    bank = gold_bank(standard=standard)
    if not bank.items:
        return {"n_items": 0, "bin_edges": [], "dimensions": []}
    cov = gold_coverage(bank.means)
    for dim, key in zip(cov["dimensions"], bank.keys, strict=True):
        dim["key"] = key
    return cov


def gold_item_list(*, standard: Standard | None = None) -> QuerySet[GoldItem]:
    qs = GoldItem.objects.select_related("image", "standard").order_by("id")
    return qs.filter(standard=standard) if standard is not None else qs


def protocol_list() -> QuerySet[Protocol]:
    return (
        Protocol.objects.select_related("standard").prefetch_related("rounds").order_by("-created_at", "-id")
    )


def protocol_current() -> Protocol | None:
    return Protocol.objects.filter(is_active=True).order_by("-created_at", "-id").first()


def round_current(*, protocol: Protocol) -> Round | None:
    return protocol.rounds.order_by("-number").first()


def enrollment_for(*, user: User) -> Enrollment | None:
    return Enrollment.objects.select_related("protocol", "protocol__standard").filter(user=user).first()


def certified_raters() -> QuerySet[User]:
    return User.objects.filter(enrollment__state=Enrollment.State.CERTIFIED).order_by("id")


def enrollment_transitions(*, enrollment: Enrollment) -> QuerySet[Transition]:
    return enrollment.transitions.select_related("actor").order_by("created_at", "id")


def volunteer_rows(*, protocol: Protocol) -> list[dict[str, Any]]:
    """Per-volunteer metrics for the funnel table and the CSV export (last submitted attempt's metrics)."""
    enrollments = (
        Enrollment.objects.filter(protocol=protocol)
        .select_related("user")
        .annotate(n_attempts=Count("attempts", filter=Q(attempts__status=Attempt.Status.SUBMITTED)))
        .order_by("id")
    )
    last: dict[int, Attempt] = {}
    for attempt in Attempt.objects.filter(
        enrollment__protocol=protocol, status=Attempt.Status.SUBMITTED
    ).order_by("enrollment_id", "submitted_at", "id"):
        last[attempt.enrollment_id] = attempt
    rows = []
    for e in enrollments:
        a = last.get(e.pk)
        result = a.result if a else {}
        biases = [abs(b) for b in result.get("bias_per_dim") or [] if b is not None]
        rows.append(
            {
                "user_id": e.user_id,
                "username": e.user.username,
                "state": e.state,
                "round_number": e.round_number,
                "rounds_passed": e.rounds_passed,
                "attempts": e.n_attempts,
                "last_passed": a.passed if a else None,
                "last_mae": result.get("mae"),
                "last_mean_srcc": result.get("mean_srcc"),
                "last_max_abs_bias": max(biases) if biases else None,
                "monitor_status": e.monitor_status,
                "monitor_mae": e.monitor_mae,
                "certified_at": e.certified_at,
                "exited_at": e.exited_at,
            }
        )
    return rows


def protocol_funnel(*, protocol: Protocol) -> dict[str, Any]:
    """invited → joined → each round (entered / passed) → certified → exited, by current state too."""
    return protocol_funnels(protocols=[protocol])[protocol.pk]


def protocol_funnels(*, protocols: list[Protocol]) -> dict[int, dict[str, Any]]:
    """:func:`protocol_funnel` of many protocols in seven queries, whatever the number of protocols, rounds
    and volunteers: per-protocol histograms of the state, the round reached and the rounds passed, turned
    into "at least n" counts by suffix sums in Python."""
    ids = [p.pk for p in protocols]
    enrollments = Enrollment.objects.filter(protocol_id__in=ids)

    def grouped(qs, *fields: str) -> list[tuple]:
        return list(qs.values_list(*fields).annotate(n=Count("id", distinct=True)).values_list(*fields, "n"))

    pending = dict(grouped(Invitation.objects.filter(protocol_id__in=ids, user__isnull=True), "protocol_id"))
    states: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    for pk, state, n in grouped(enrollments, "protocol_id", "state"):
        states[pk][state] = n
    reached: dict[int, dict[int, int]] = {pk: {} for pk in ids}
    for pk, number, n in grouped(enrollments, "protocol_id", "round_number"):
        reached[pk][number] = n
    passed: dict[int, dict[int, int]] = {pk: {} for pk in ids}
    for pk, number, n in grouped(enrollments, "protocol_id", "rounds_passed"):
        passed[pk][number] = n
    entered_first = dict(
        grouped(enrollments.filter(transitions__to_state=Enrollment.State.TRAINING), "protocol_id")
    )
    certified = dict(grouped(enrollments.filter(certified_at__isnull=False), "protocol_id"))
    statuses: dict[int, dict[int, str]] = {pk: {} for pk in ids}
    for pk, number, status in Round.objects.filter(protocol_id__in=ids).values_list(
        "protocol_id", "number", "status"
    ):
        statuses[pk][number] = status

    def at_least(histogram: dict[int, int], number: int) -> int:
        return sum(n for value, n in histogram.items() if value is not None and value >= number)

    out = {}
    for protocol in protocols:
        pk = protocol.pk
        joined = sum(states[pk].values())
        rounds = [
            {
                "number": number,
                "entered": entered_first.get(pk, 0) if number == 1 else at_least(reached[pk], number),
                "passed": at_least(passed[pk], number),
                "status": statuses[pk].get(number, "not opened"),
            }
            for number in range(1, max([protocol.n_iterations, *statuses[pk]]) + 1)
        ]
        out[pk] = {
            "protocol": pk,
            "invited": joined + pending.get(pk, 0),
            "joined": joined,
            "rounds": rounds,
            "certified": certified.get(pk, 0),
            "certified_now": states[pk].get(Enrollment.State.CERTIFIED, 0),
            "exited": states[pk].get(Enrollment.State.EXITED, 0),
            "states": {s: states[pk].get(s, 0) for s in Enrollment.State.values},
        }
    return out


def protocol_of(*, enrollment: Enrollment) -> Protocol:
    """The enrollment's protocol, or the default parameters (admin-certified raters have no protocol)."""
    if enrollment.protocol is not None:
        return enrollment.protocol
    return Protocol(name="defaults", standard=default_standard())


def training_done_count(*, enrollment: Enrollment) -> int:
    """Ordinary training images answered in the volunteer's current round (retraining not counted)."""
    return TrainingAnswer.objects.filter(
        enrollment=enrollment,
        round_number=enrollment.round_number,
        answered_at__isnull=False,
        retraining__isnull=True,
    ).count()


def training_progress(*, enrollment: Enrollment) -> dict[str, Any]:
    """``{done, needed, retraining, focus_dimensions}``: the round's training, or in *retraining* the
    targeted retraining after the failed exam."""
    if enrollment.state == Enrollment.State.RETRAINING:
        retraining = Retraining.objects.filter(enrollment=enrollment).order_by("-id").first()
        if retraining is not None:
            done = retraining.items.filter(answered_at__isnull=False).count()
            return {
                "done": done,
                "needed": retraining.n_items,
                "retraining": True,
                "focus_dimensions": list(retraining.focus_dimensions),
            }
    return {
        "done": training_done_count(enrollment=enrollment),
        "needed": protocol_of(enrollment=enrollment).n_training,
        "retraining": False,
        "focus_dimensions": [],
    }


def attempt_retake_at(*, enrollment: Enrollment) -> dt.datetime | None:
    """When the failed volunteer may retake (None if no retake is pending)."""
    if enrollment.state not in (
        Enrollment.State.EXAM,
        Enrollment.State.REQUALIFYING,
        Enrollment.State.RETRAINING,
    ):
        return None
    last = (
        Attempt.objects.filter(enrollment=enrollment)
        .exclude(status=Attempt.Status.VOID)
        .order_by("-id")
        .first()
    )
    if last is None or last.status != Attempt.Status.SUBMITTED or last.passed:
        return None
    return last.submitted_at + protocol_of(enrollment=enrollment).retake_delay


def attempt_result_public(attempt: Attempt) -> dict[str, Any] | None:
    """Aggregate metrics of a submitted attempt (no per-item gold); None before submission."""
    if attempt.status != Attempt.Status.SUBMITTED:
        return None
    r = attempt.result
    keys = ("mae", "mean_srcc", "pooled_srcc", "pooled_plcc", "bias_per_dim", "srcc_per_dim", "mae_per_dim",
            "dimension_keys", "reasons", "weak_dimension_keys", "n_items")  # fmt: skip
    return {k: r.get(k) for k in keys}


def attempt_public(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "kind": attempt.kind,
        "round_number": attempt.round_number,
        "number": attempt.number,
        "status": attempt.status,
        "started_at": attempt.started_at,
        "submitted_at": attempt.submitted_at,
        "passed": attempt.passed,
        "result": attempt_result_public(attempt),
    }


def volunteer_status(*, user: User) -> dict[str, Any]:
    """Shared by the API and the pages: what a volunteer may see about themselves."""
    enrollment = enrollment_for(user=user)
    if enrollment is None:
        return {"enrolled": False, "state": None}
    protocol = protocol_of(enrollment=enrollment)
    rnd = (
        Round.objects.filter(protocol=enrollment.protocol, number=enrollment.round_number).first()
        if enrollment.protocol
        else None
    )
    open_attempt = enrollment.attempts.filter(status=Attempt.Status.OPEN).first()
    retake_at = attempt_retake_at(enrollment=enrollment)
    progress = training_progress(enrollment=enrollment)
    attempts = [attempt_public(a) for a in enrollment.attempts.filter(status=Attempt.Status.SUBMITTED)]
    return {
        "enrolled": True,
        "state": enrollment.state,
        "state_label": enrollment.get_state_display(),
        "protocol": protocol.name if enrollment.protocol else None,
        "round_number": enrollment.round_number,
        "rounds_total": protocol.n_iterations,
        "rounds_passed": enrollment.rounds_passed,
        "round_open": bool(rnd and rnd.status == Round.Status.OPEN),
        "training_done": progress["done"],
        "training_needed": progress["needed"],
        "retraining": progress["retraining"],
        "retraining_focus": progress["focus_dimensions"],
        "exam_items": protocol.n_scored + protocol.n_warmup,
        "max_attempts": protocol.max_attempts,
        "open_attempt": open_attempt.id if open_attempt else None,
        "retake_at": retake_at,
        "attempts": attempts,
        "certified_at": enrollment.certified_at,
    }


EXPORT_COLUMNS = (
    "user_id", "username", "state", "round_number", "rounds_passed", "attempts", "last_passed", "last_mae",
    "last_mean_srcc", "last_max_abs_bias", "monitor_status", "monitor_mae", "certified_at", "exited_at",
)  # fmt: skip


def funnel_csv(*, protocol: Protocol) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in volunteer_rows(protocol=protocol):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def volunteer_detail(*, user: User) -> dict[str, Any]:
    enrollment = enrollment_for(user=user)
    if enrollment is None:
        raise NotFoundError(f"{user.username} is not enrolled.")
    exposures = user.hidden_gold.all()
    return {
        "user_id": user.pk,
        "username": user.username,
        "state": enrollment.state,
        "protocol": enrollment.protocol_id,
        "round_number": enrollment.round_number,
        "rounds_passed": enrollment.rounds_passed,
        "certified_at": enrollment.certified_at,
        "monitor_status": enrollment.monitor_status,
        "monitor_mae": enrollment.monitor_mae,
        "hidden_gold": {
            "shown": exposures.count(),
            "answered": exposures.filter(answered_at__isnull=False).count(),
        },
        "training_answered": enrollment.training_answers.filter(answered_at__isnull=False).count(),
        "attempts": [attempt_public(a) for a in enrollment.attempts.all()],
        "transitions": [
            {
                "from": t.from_state,
                "to": t.to_state,
                "reason": t.reason,
                "at": t.created_at,
                "actor": t.actor.username if t.actor else None,
            }
            for t in enrollment_transitions(enrollment=enrollment)
        ],
    }
