"""Training (immediate feedback) and exams (no feedback until submitted), through the state machine.

Gold scores leave this module only in :func:`training_answer`'s feedback (after the answer is stored) and
in the submitted attempt's aggregate result; exam items are never scored before submission.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotation.exam_scoring import PassRule, draw_exam_form, score_exam
from annotation.models import Standard
from annotation.services.standards import standard_validate_scores
from humanbeauty.errors import ApplicationError, ConflictError, NotFoundError

from ..models import (
    Attempt,
    AttemptItem,
    Enrollment,
    GoldItem,
    HiddenGoldExposure,
    Protocol,
    Retraining,
    Round,
    TrainingAnswer,
    Transition,
)
from ..retraining import pick_retraining_items, retraining_focus
from ..selectors import attempt_retake_at, gold_bank, protocol_of, training_done_count
from .states import ATTEMPT_STATES, enrollment_transition

S = Enrollment.State
_random = random.Random()


def pass_rule_of(protocol: Protocol) -> PassRule:
    return PassRule(
        max_mae=protocol.max_mae, min_mean_srcc=protocol.min_mean_srcc, max_abs_bias=protocol.max_abs_bias
    )


_DIMS_CACHE: dict[tuple[int, str], list[Any]] = {}


def standard_dims(standard: Standard) -> list[Any]:
    """The standard's dimensions in order (cached per process: a standard's dimensions never change)."""
    key = (standard.pk, standard.key)
    if key not in _DIMS_CACHE:
        _DIMS_CACHE[key] = list(standard.dimensions.order_by("order"))
    return _DIMS_CACHE[key]


def _validate(protocol: Protocol, scores: Any) -> dict[str, float | None]:
    standard = protocol.standard
    dims = standard_dims(standard)
    cleaned, _ = standard_validate_scores(
        dimensions=dims, score_min=standard.score_min, score_max=standard.score_max, scores=scores
    )
    return {k: round(v, 2) if v is not None else None for k, v in cleaned.items()}


def _open_round(enrollment: Enrollment) -> Round:
    if enrollment.protocol is None:
        raise ConflictError("You are not part of a qualification protocol.")
    rnd = Round.objects.filter(protocol=enrollment.protocol, number=enrollment.round_number).first()
    if rnd is None or rnd.status != Round.Status.OPEN:
        raise ConflictError(
            f"Round {enrollment.round_number} is not open yet; you will be able to continue when it opens.",
            extra={"code": "round_not_open", "round": enrollment.round_number},
        )
    return rnd


def seen_gold_ids(*, enrollment: Enrollment) -> set[int]:
    """Gold items this volunteer has already seen (training, any exam form, hidden gold)."""
    # order_by() clears the models' default ordering: SQLite refuses ORDER BY inside a compound SELECT.
    training = (
        TrainingAnswer.objects.filter(enrollment=enrollment).order_by().values_list("gold_item_id", flat=True)
    )
    exam = (
        AttemptItem.objects.filter(attempt__enrollment=enrollment)
        .order_by()
        .values_list("gold_item_id", flat=True)
    )
    hidden = (
        HiddenGoldExposure.objects.filter(rater_id=enrollment.user_id)
        .order_by()
        .values_list("gold_item_id", flat=True)
    )
    return set(training.union(exam, hidden, all=True))


# ---------------------------------------------------------------------------------------------- training


def training_start(*, enrollment: Enrollment) -> Enrollment:
    """invited → training, once the volunteer's round is open."""
    if enrollment.state == S.TRAINING:
        return enrollment
    _open_round(enrollment)
    return enrollment_transition(enrollment=enrollment, to_state=S.TRAINING, reason="started training")


@transaction.atomic
def training_next(*, enrollment: Enrollment) -> TrainingAnswer | None:
    """The next training image (the pending one if any); ``None`` once the round's training is complete.

    In *retraining* the items were chosen when the exam failed (:func:`retraining_create`): the next one
    not yet answered, ``None`` when the retraining is complete."""
    enrollment = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("protocol__standard")
        .get(pk=enrollment.pk)
    )
    if enrollment.state == S.RETRAINING:
        retraining = retraining_current(enrollment=enrollment)
        if retraining is None:
            return None
        return (
            TrainingAnswer.objects.filter(retraining=retraining, answered_at__isnull=True)
            .select_related("gold_item__image")
            .order_by("id")
            .first()
        )
    if enrollment.state != S.TRAINING:
        raise ConflictError(
            "Training is available only in the training phase.", extra={"state": enrollment.state}
        )
    _open_round(enrollment)
    pending = (
        TrainingAnswer.objects.filter(
            enrollment=enrollment, answered_at__isnull=True, retraining__isnull=True
        )
        .select_related("gold_item__image")
        .first()
    )
    if pending is not None:
        return pending
    if training_done_count(enrollment=enrollment) >= enrollment.protocol.n_training:
        return None
    seen = seen_gold_ids(enrollment=enrollment)
    candidates = list(
        GoldItem.objects.filter(standard=enrollment.protocol.standard, is_active=True)
        .exclude(pk__in=seen)
        .values_list("pk", flat=True)
    )
    if not candidates:
        return None  # bank exhausted for this volunteer: training ends early
    item = GoldItem.objects.select_related("image").get(pk=_random.choice(candidates))
    return TrainingAnswer.objects.create(
        enrollment=enrollment, round_number=enrollment.round_number, gold_item=item
    )


@transaction.atomic
def training_next_batch(*, enrollment: Enrollment, n: int) -> list[TrainingAnswer]:
    """Bulk path of :func:`training_next`: up to ``n`` training images at once (the pending ones first), for
    clients that show several images before their feedback (and the simulation). Same rules: fresh gold
    items of the standard, never more than the round's ``n_training``; in retraining, its remaining items."""
    enrollment = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("protocol__standard")
        .get(pk=enrollment.pk)
    )
    if enrollment.state == S.RETRAINING:
        retraining = retraining_current(enrollment=enrollment)
        if retraining is None:
            return []
        return list(
            TrainingAnswer.objects.filter(retraining=retraining, answered_at__isnull=True)
            .select_related("gold_item")
            .order_by("id")[: max(n, 0)]
        )
    if enrollment.state != S.TRAINING:
        raise ConflictError(
            "Training is available only in the training phase.", extra={"state": enrollment.state}
        )
    _open_round(enrollment)
    rows = list(
        TrainingAnswer.objects.filter(
            enrollment=enrollment, round_number=enrollment.round_number, retraining__isnull=True
        ).values_list("answered_at", flat=True)
    )
    pending = list(
        TrainingAnswer.objects.filter(
            enrollment=enrollment, answered_at__isnull=True, retraining__isnull=True
        )
        .select_related("gold_item")
        .order_by("id")
    )
    room = min(n, enrollment.protocol.n_training - len(rows)) if n > len(pending) else 0
    if room <= 0:
        return pending[: max(n, 0)]
    seen = seen_gold_ids(enrollment=enrollment)
    candidates = list(
        GoldItem.objects.filter(standard=enrollment.protocol.standard, is_active=True)
        .exclude(pk__in=seen)
        .values_list("pk", flat=True)
    )
    chosen = _random.sample(candidates, min(room, len(candidates)))
    created = TrainingAnswer.objects.bulk_create(
        TrainingAnswer(enrollment=enrollment, round_number=enrollment.round_number, gold_item_id=pk)
        for pk in chosen
    )
    items = {g.pk: g for g in GoldItem.objects.filter(pk__in=chosen)}
    for answer in created:
        answer.gold_item = items[answer.gold_item_id]
    return (pending + created)[: max(n, 0)]


@transaction.atomic
def training_answer(*, enrollment: Enrollment, answer_id: int, scores: Any) -> dict[str, Any]:
    """Store a training answer and return the feedback: expert mean/SD/rationale beside the volunteer's scores."""
    return training_answer_many(enrollment=enrollment, answers={answer_id: scores})[0]


@transaction.atomic
def training_answer_many(*, enrollment: Enrollment, answers: dict[int, Any]) -> list[dict[str, Any]]:
    """Store several training answers (``{training item id: scores}``) and return the feedback of each, in
    the order given. All or nothing: one bad answer stores none. Completing a retraining's last item marks
    the retraining complete (the retake is then unlocked once the retake delay has passed)."""
    ids = [int(i) for i in answers]
    rows = {
        a.pk: a
        for a in TrainingAnswer.objects.select_for_update(of=("self",))
        .select_related("gold_item__standard", "enrollment__protocol__standard")
        .filter(pk__in=ids, enrollment=enrollment)
    }
    if not ids:
        return []
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFoundError("No such training item.", extra={"ids": missing})
    first = rows[ids[0]]
    locked = first.enrollment
    now = timezone.now()
    for answer_id in ids:
        answer = rows[answer_id]
        if answer.answered_at is not None:
            raise ConflictError("This training image has already been answered.", extra={"id": answer_id})
        expected = S.RETRAINING if answer.retraining_id else S.TRAINING
        if locked.state != expected:
            raise ConflictError(
                "Training is available only in the training phase."
                if expected == S.TRAINING
                else "Retraining is available only after a failed exam.",
                extra={"state": locked.state},
            )
        answer.scores = _validate(protocol_of(enrollment=locked), answers[answer_id])
        answer.answered_at = now
    TrainingAnswer.objects.bulk_update(list(rows.values()), ["scores", "answered_at"])
    retraining_ids = {a.retraining_id for a in rows.values() if a.retraining_id}
    for retraining_id in retraining_ids:
        if not TrainingAnswer.objects.filter(retraining_id=retraining_id, answered_at__isnull=True).exists():
            Retraining.objects.filter(pk=retraining_id, completed_at__isnull=True).update(completed_at=now)
    return [training_feedback(answer=rows[i]) for i in ids]


def training_feedback(*, answer: TrainingAnswer) -> dict[str, Any]:
    """Only for an *answered* training item."""
    if answer.answered_at is None:
        raise ConflictError("Feedback comes after the answer.")
    gold = answer.gold_item
    focus = set(answer.retraining.focus_dimensions) if answer.retraining_id else set()
    dims = []
    for key in [d.key for d in standard_dims(gold.standard)]:
        expert = gold.expert_mean[key]
        yours = (answer.scores or {}).get(key)
        dims.append(
            {
                "key": key,
                "yours": yours,
                "expert_mean": expert,
                "expert_sd": gold.expert_sd.get(key),
                "difference": None if yours is None else round(yours - expert, 2),
                "rationale": gold.rationale.get(key, ""),
                "focus": key in focus,
            }
        )
    return {
        "training_item": answer.pk,
        "dimensions": dims,
        "retraining": answer.retraining_id,
        "focus_dimensions": sorted(focus, key=[d["key"] for d in dims].index),
    }


# --------------------------------------------------------------------------------------------- retraining


def retraining_current(*, enrollment: Enrollment) -> Retraining | None:
    """The retraining of the volunteer's last failed attempt (``None`` if there is none)."""
    return Retraining.objects.filter(enrollment=enrollment).order_by("-id").first()


def retraining_create(*, enrollment: Enrollment, attempt: Attempt, protocol: Protocol) -> Retraining:
    """Targeted retraining after the failed ``attempt``: ``n_retraining`` fresh gold items chosen for the
    failed dimensions (:mod:`annotation.qualification.retraining`), stored as unanswered training items."""
    keys = attempt.result.get("dimension_keys") or [d.key for d in standard_dims(protocol.standard)]
    focus = retraining_focus(
        attempt.result,
        keys=keys,
        max_mae=protocol.max_mae,
        min_mean_srcc=protocol.min_mean_srcc,
        max_abs_bias=protocol.max_abs_bias,
        weak_srcc=pass_rule_of(protocol).weak_dimension_srcc,
    )
    bank = gold_bank(standard=protocol.standard)
    index = {item.pk: i for i, item in enumerate(bank.items)}
    exclude = {index[g] for g in seen_gold_ids(enrollment=enrollment) if g in index}
    picks = pick_retraining_items(
        bank.means,
        focus=[bank.keys.index(k) for k in focus if k in bank.keys] or [0],
        n_items=protocol.n_retraining,
        exclude=exclude,
        rng=np.random.default_rng(_random.getrandbits(64)),
    )
    retraining = Retraining.objects.create(
        enrollment=enrollment, attempt=attempt, focus_dimensions=focus, n_items=len(picks)
    )
    TrainingAnswer.objects.bulk_create(
        TrainingAnswer(
            enrollment=enrollment,
            round_number=enrollment.round_number,
            gold_item=bank.items[i],
            retraining=retraining,
            focus_dimension=bank.keys[d],
        )
        for i, d in picks
    )
    if not picks:  # the bank has nothing fresh left: nothing to show, the retraining is complete
        retraining.completed_at = timezone.now()
        retraining.save(update_fields=["completed_at"])
    return retraining


# -------------------------------------------------------------------------------------------------- exams


def _cycle(enrollment: Enrollment, kind: str) -> int:
    if kind == Attempt.Kind.QUALIFICATION:
        return enrollment.round_number
    # One re-qualification cycle per suspension (retraining → requalifying retakes stay in the same cycle).
    return Transition.objects.filter(
        enrollment=enrollment, from_state=S.SUSPENDED, to_state=S.REQUALIFYING
    ).count()


def _retake_check(enrollment: Enrollment, protocol: Protocol, kind: str, now: dt.datetime) -> int:
    """Attempt number of a retake, or raise why a retake is not possible now."""
    previous = list(
        Attempt.objects.filter(
            enrollment=enrollment, kind=kind, round_number=_cycle(enrollment, kind)
        ).order_by("number")
    )
    if not previous:
        return 1
    last = previous[-1]
    if last.passed:
        raise ConflictError("You have already passed this exam.")
    if len(previous) >= protocol.max_attempts:
        raise ConflictError("No attempts left.", extra={"code": "no_attempts_left"})
    ready_at = last.submitted_at + protocol.retake_delay
    if now < ready_at:
        raise ConflictError(
            f"You can retake the exam from {ready_at:%Y-%m-%d %H:%M} UTC.",
            extra={"code": "retake_delay", "ready_at": ready_at.isoformat()},
        )
    return len(previous) + 1


@transaction.atomic
def exam_start(*, enrollment: Enrollment, now: dt.datetime | None = None) -> Attempt:
    """Start (or resume) an exam on a fresh form drawn from the gold bank.

    training (training complete) → exam; exam after a failed attempt → retake after the delay; suspended →
    requalifying (re-qualification exam); retraining (complete, retake delay passed) → exam or requalifying.
    """
    now = now or timezone.now()
    enrollment = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("user", "protocol__standard")
        .get(pk=enrollment.pk)
    )
    open_attempt = Attempt.objects.filter(enrollment=enrollment, status=Attempt.Status.OPEN).first()
    if open_attempt is not None:
        return open_attempt
    protocol = protocol_of(enrollment=enrollment)
    if enrollment.state == S.TRAINING:
        _open_round(enrollment)
        done = training_done_count(enrollment=enrollment)
        if done < protocol.n_training and training_next(enrollment=enrollment) is not None:
            raise ConflictError(
                f"Finish the training first ({done} of {protocol.n_training} images).",
                extra={"code": "training_incomplete", "done": done, "needed": protocol.n_training},
            )
        kind = Attempt.Kind.QUALIFICATION
        number = _retake_check(enrollment, protocol, kind, now)
        enrollment_transition(
            enrollment=enrollment, to_state=S.EXAM, reason=f"exam round {enrollment.round_number}"
        )
    elif enrollment.state == S.EXAM:  # an attempt was voided (admin action): start a fresh one
        _open_round(enrollment)
        kind = Attempt.Kind.QUALIFICATION
        number = _retake_check(enrollment, protocol, kind, now)
    elif enrollment.state == S.RETRAINING:
        retraining = retraining_current(enrollment=enrollment)
        kind = retraining.attempt.kind if retraining else Attempt.Kind.QUALIFICATION
        if kind == Attempt.Kind.QUALIFICATION:
            _open_round(enrollment)
        if retraining is not None and retraining.completed_at is None:
            done = retraining.items.filter(answered_at__isnull=False).count()
            raise ConflictError(
                f"Finish the retraining first ({done} of {retraining.n_items} images).",
                extra={"code": "retraining_incomplete", "done": done, "needed": retraining.n_items},
            )
        number = _retake_check(enrollment, protocol, kind, now)
        enrollment_transition(
            enrollment=enrollment,
            to_state=S.EXAM if kind == Attempt.Kind.QUALIFICATION else S.REQUALIFYING,
            reason=f"retraining done; retake {number}",
        )
    elif enrollment.state == S.SUSPENDED:
        kind = Attempt.Kind.REQUALIFICATION
        enrollment_transition(
            enrollment=enrollment, to_state=S.REQUALIFYING, reason="started re-qualification"
        )
        number = _retake_check(enrollment, protocol, kind, now)
    elif enrollment.state == S.REQUALIFYING:
        kind = Attempt.Kind.REQUALIFICATION
        number = _retake_check(enrollment, protocol, kind, now)
    else:
        raise ConflictError(
            f"No exam is available to a volunteer who is {enrollment.get_state_display().lower()}.",
            extra={"code": "illegal_transition", "from": enrollment.state, "to": "exam"},
        )
    enrollment.refresh_from_db()
    bank = gold_bank(standard=protocol.standard)
    index = {item.pk: i for i, item in enumerate(bank.items)}
    exclude = {index[g] for g in seen_gold_ids(enrollment=enrollment) if g in index}
    try:
        form = draw_exam_form(
            bank.means,
            n_scored=protocol.n_scored,
            n_warmup=protocol.n_warmup,
            rng=np.random.default_rng(_random.getrandbits(64)),
            exclude=exclude,
        )
    except ValueError as exc:
        raise ConflictError(f"The gold bank cannot supply an exam form: {exc}.") from exc
    attempt = Attempt.objects.create(
        enrollment=enrollment, kind=kind, round_number=_cycle(enrollment, kind), number=number
    )
    order = [(i, True) for i in form.warmup] + [(i, False) for i in form.scored]
    AttemptItem.objects.bulk_create(
        AttemptItem(attempt=attempt, gold_item=bank.items[i], position=pos, is_warmup=warm)
        for pos, (i, warm) in enumerate(order)
    )
    return attempt


def _attempt_for_update(attempt: Attempt, enrollment: Enrollment) -> Attempt:
    locked = Attempt.objects.select_for_update().filter(pk=attempt.pk, enrollment=enrollment).first()
    if locked is None:
        raise NotFoundError("No such exam attempt.")
    if locked.status == Attempt.Status.VOID:
        raise ConflictError(
            "This exam was closed before it was submitted (its round closed or the volunteer left).",
            extra={"code": "attempt_void"},
        )
    if locked.status != Attempt.Status.OPEN:
        raise ConflictError("This exam has already been submitted.")
    return locked


@transaction.atomic
def attempt_answer(*, enrollment: Enrollment, attempt: Attempt, position: int, scores: Any) -> None:
    """Store (or change) the answer to one exam item. No feedback and no gold is touched."""
    attempt = _attempt_for_update(attempt, enrollment)
    item = AttemptItem.objects.filter(attempt=attempt, position=position).first()
    if item is None:
        raise NotFoundError("No such exam item.")
    item.scores = _validate(protocol_of(enrollment=enrollment), scores)
    item.answered_at = timezone.now()
    item.save(update_fields=["scores", "answered_at"])


@transaction.atomic
def attempt_submit(
    *,
    enrollment: Enrollment,
    attempt: Attempt,
    answers: dict[int, Any] | None = None,
    now: dt.datetime | None = None,
) -> Attempt:
    """Submit an exam (optionally with all answers at once, ``{position: scores}``), score it and move
    the volunteer on: pass → next round or certified; fail → retake later, or exit after the last attempt."""
    now = now or timezone.now()
    # Lock order everywhere: enrollment, then attempt (round_close and admin actions lock the enrollment
    # first too), so concurrent submits and closes serialise instead of deadlocking.
    enrollment = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("protocol__standard")
        .get(pk=enrollment.pk)
    )
    attempt = _attempt_for_update(attempt, enrollment)
    if enrollment.state not in ATTEMPT_STATES:  # defensive: transitions void open attempts
        raise ConflictError(
            f"A volunteer who is {enrollment.get_state_display().lower()} cannot submit an exam.",
            extra={"code": "illegal_transition", "from": enrollment.state},
        )
    protocol = protocol_of(enrollment=enrollment)
    items = list(AttemptItem.objects.filter(attempt=attempt).select_related("gold_item").order_by("position"))
    if answers:
        by_pos = {it.position: it for it in items}
        for position, scores in answers.items():
            item = by_pos.get(int(position))
            if item is None:
                raise NotFoundError(f"No exam item at position {position}.")
            item.scores = _validate(protocol, scores)
            item.answered_at = now
        AttemptItem.objects.bulk_update(items, ["scores", "answered_at"])
    missing = [it.position for it in items if it.answered_at is None]
    if missing:
        raise ApplicationError(
            f"Answer every image before submitting ({len(missing)} left).", extra={"unanswered": missing}
        )
    keys = [d.key for d in standard_dims(protocol.standard)]
    scored = [it for it in items if not it.is_warmup]
    nan = float("nan")
    responses = np.array([[nan if it.scores[k] is None else it.scores[k] for k in keys] for it in scored])
    gold = np.array([[float(it.gold_item.expert_mean[k]) for k in keys] for it in scored])
    gold_sd = np.array([[float(it.gold_item.expert_sd.get(k, 0.0)) for k in keys] for it in scored])
    result = score_exam(responses, gold, rule=pass_rule_of(protocol), gold_sd=gold_sd)
    payload = result.to_dict()
    payload["dimension_keys"] = keys
    payload["weak_dimension_keys"] = [keys[i] for i in result.weak_dimensions]
    attempt.status = Attempt.Status.SUBMITTED
    attempt.submitted_at = now
    attempt.passed = result.passed
    attempt.result = payload
    attempt.save(update_fields=["status", "submitted_at", "passed", "result"])
    _after_submit(enrollment=enrollment, attempt=attempt, protocol=protocol, now=now)
    return attempt


def _after_submit(*, enrollment: Enrollment, attempt: Attempt, protocol: Protocol, now: dt.datetime) -> None:
    label = f"attempt {attempt.number}"
    if attempt.passed:
        if attempt.kind == Attempt.Kind.REQUALIFICATION:
            enrollment_transition(
                now=now,
                enrollment=enrollment,
                to_state=S.CERTIFIED,
                reason=f"passed re-qualification {label}",
            )
            return
        enrollment.rounds_passed = max(enrollment.rounds_passed, attempt.round_number)
        enrollment.save(update_fields=["rounds_passed", "updated_at"])
        if attempt.round_number >= protocol.n_iterations:
            enrollment_transition(
                now=now,
                enrollment=enrollment,
                to_state=S.CERTIFIED,
                reason=f"passed round {attempt.round_number}, {label}",
            )
        else:
            enrollment.round_number = attempt.round_number + 1
            enrollment.save(update_fields=["round_number", "updated_at"])
            enrollment_transition(
                now=now,
                enrollment=enrollment,
                to_state=S.TRAINING,
                reason=f"passed round {attempt.round_number}; training for round {enrollment.round_number}",
            )
        return
    used = Attempt.objects.filter(
        enrollment=enrollment, kind=attempt.kind, round_number=attempt.round_number
    ).count()
    if used >= protocol.max_attempts:
        what = (
            "re-qualification"
            if attempt.kind == Attempt.Kind.REQUALIFICATION
            else f"round {attempt.round_number}"
        )
        enrollment_transition(
            now=now,
            enrollment=enrollment,
            to_state=S.EXITED,
            reason=f"failed {what} {label} of {protocol.max_attempts}",
        )
        return
    retraining = retraining_create(enrollment=enrollment, attempt=attempt, protocol=protocol)
    enrollment_transition(
        now=now,
        enrollment=enrollment,
        to_state=S.RETRAINING,
        reason=f"failed {label}; retraining on {', '.join(retraining.focus_dimensions) or 'the form'}",
    )


__all__ = ["attempt_retake_at", "protocol_of", "training_done_count"]  # re-exported reads
