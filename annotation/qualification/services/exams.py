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
    Round,
    TrainingAnswer,
    Transition,
)
from ..selectors import attempt_retake_at, gold_bank, protocol_of, training_done_count
from .states import enrollment_transition

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
    """The next training image (the pending one if any); ``None`` once the round's training is complete."""
    enrollment = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("protocol__standard")
        .get(pk=enrollment.pk)
    )
    if enrollment.state != S.TRAINING:
        raise ConflictError(
            "Training is available only in the training phase.", extra={"state": enrollment.state}
        )
    _open_round(enrollment)
    pending = (
        TrainingAnswer.objects.filter(enrollment=enrollment, answered_at__isnull=True)
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
def training_answer(*, enrollment: Enrollment, answer_id: int, scores: Any) -> dict[str, Any]:
    """Store a training answer and return the feedback: expert mean/SD/rationale beside the volunteer's scores."""
    answer = (
        TrainingAnswer.objects.select_for_update(of=("self",))
        .select_related("gold_item__standard", "enrollment__protocol__standard")
        .filter(pk=answer_id, enrollment=enrollment)
        .first()
    )
    if answer is None:
        raise NotFoundError("No such training item.")
    if answer.answered_at is not None:
        raise ConflictError("This training image has already been answered.")
    enrollment = answer.enrollment
    if enrollment.state != S.TRAINING:
        raise ConflictError("Training is available only in the training phase.")
    answer.scores = _validate(enrollment.protocol, scores)
    answer.answered_at = timezone.now()
    answer.save(update_fields=["scores", "answered_at"])
    return training_feedback(answer=answer)


def training_feedback(*, answer: TrainingAnswer) -> dict[str, Any]:
    """Only for an *answered* training item."""
    if answer.answered_at is None:
        raise ConflictError("Feedback comes after the answer.")
    gold = answer.gold_item
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
            }
        )
    return {"training_item": answer.pk, "dimensions": dims}


# -------------------------------------------------------------------------------------------------- exams


def _cycle(enrollment: Enrollment, kind: str) -> int:
    if kind == Attempt.Kind.QUALIFICATION:
        return enrollment.round_number
    return Transition.objects.filter(enrollment=enrollment, to_state=S.REQUALIFYING).count()


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
    requalifying (re-qualification exam); requalifying after a failed attempt → retake after the delay.
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
    elif enrollment.state == S.EXAM:
        _open_round(enrollment)
        kind = Attempt.Kind.QUALIFICATION
        number = _retake_check(enrollment, protocol, kind, now)
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
    attempt = _attempt_for_update(attempt, enrollment)
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
    _after_submit(enrollment=Enrollment.objects.get(pk=enrollment.pk), attempt=attempt, protocol=protocol)
    return attempt


def _after_submit(*, enrollment: Enrollment, attempt: Attempt, protocol: Protocol) -> None:
    label = f"attempt {attempt.number}"
    if attempt.passed:
        if attempt.kind == Attempt.Kind.REQUALIFICATION:
            enrollment_transition(
                enrollment=enrollment, to_state=S.CERTIFIED, reason=f"passed re-qualification {label}"
            )
            return
        enrollment.rounds_passed = max(enrollment.rounds_passed, attempt.round_number)
        enrollment.save(update_fields=["rounds_passed", "updated_at"])
        if attempt.round_number >= protocol.n_iterations:
            enrollment_transition(
                enrollment=enrollment,
                to_state=S.CERTIFIED,
                reason=f"passed round {attempt.round_number}, {label}",
            )
        else:
            enrollment.round_number = attempt.round_number + 1
            enrollment.save(update_fields=["round_number", "updated_at"])
            enrollment_transition(
                enrollment=enrollment,
                to_state=S.TRAINING,
                reason=f"passed round {attempt.round_number}; training for round {enrollment.round_number}",
            )
        return
    used = Attempt.objects.filter(
        enrollment=enrollment, kind=attempt.kind, round_number=attempt.round_number
    ).count()
    if used >= protocol.max_attempts:
        enrollment_transition(
            enrollment=enrollment, to_state=S.EXITED, reason=f"failed {label} of {protocol.max_attempts}"
        )


__all__ = ["attempt_retake_at", "protocol_of", "training_done_count"]  # re-exported reads
