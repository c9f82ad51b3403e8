"""Training (immediate feedback) and exams (no feedback until submitted), through the state machine.

Gold scores leave this module only in :func:`training_answer`'s feedback (after the answer is stored) and
in the submitted attempt's aggregate result; exam items are never scored before submission.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Value
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
from ..selectors import GoldBank, attempt_retake_at, gold_bank, protocol_of, training_done_count
from .bulk import update_rows
from .states import ATTEMPT_STATES, enrollment_transition_many, transition_locked

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


def _round_closed_error(enrollment: Enrollment) -> ConflictError:
    if enrollment.protocol_id is None:
        return ConflictError("You are not part of a qualification protocol.")
    return ConflictError(
        f"Round {enrollment.round_number} is not open yet; you will be able to continue when it opens.",
        extra={"code": "round_not_open", "round": enrollment.round_number},
    )


def _open_rounds(enrollments: Sequence[Enrollment]) -> set[tuple[int, int]]:
    """``(protocol id, number)`` of the open rounds among those the enrollments are in: one statement."""
    protocols = {e.protocol_id for e in enrollments if e.protocol_id is not None}
    if not protocols:
        return set()
    numbers = {e.round_number for e in enrollments}
    return set(
        Round.objects.filter(protocol_id__in=protocols, number__in=numbers, status=Round.Status.OPEN)
        .order_by()
        .values_list("protocol_id", "number")
    )


def _round_is_open(enrollment: Enrollment, open_rounds: set[tuple[int, int]]) -> bool:
    return (enrollment.protocol_id, enrollment.round_number) in open_rounds


def _lock(ids: Sequence[int]) -> list[Enrollment]:
    """The enrollments ``ids`` locked (in id order, as every cohort path locks them) with their protocol
    and standard, returned in the order of ``ids``. One statement."""
    if len(set(ids)) != len(ids):
        raise ApplicationError("Each volunteer at most once in one call.")
    rows = {
        e.pk: e
        for e in Enrollment.objects.select_for_update(of=("self",))
        .select_related("protocol__standard")
        .filter(pk__in=ids)
        .order_by("id")
    }
    missing = [pk for pk in ids if pk not in rows]
    if missing:
        raise NotFoundError("No such enrollment.", extra={"ids": missing})
    return [rows[pk] for pk in ids]


def seen_gold_ids(*, enrollment: Enrollment) -> set[int]:
    """Gold items this volunteer has already seen (training, any exam form, hidden gold)."""
    return seen_gold_ids_many(enrollments=[enrollment])[enrollment.pk]


def seen_gold_ids_many(*, enrollments: Sequence[Enrollment]) -> dict[int, set[int]]:
    """:func:`seen_gold_ids` of every enrollment (keyed by enrollment id) in one statement."""
    ids = [e.pk for e in enrollments]
    by_user = {e.user_id: e.pk for e in enrollments}
    # order_by() clears the models' default ordering: SQLite refuses ORDER BY inside a compound SELECT.
    training = (
        TrainingAnswer.objects.filter(enrollment_id__in=ids)
        .order_by()
        .annotate(hidden=Value(False))
        .values_list("enrollment_id", "gold_item_id", "hidden")
    )
    exam = (
        AttemptItem.objects.filter(attempt__enrollment_id__in=ids)
        .order_by()
        .annotate(hidden=Value(False))
        .values_list("attempt__enrollment_id", "gold_item_id", "hidden")
    )
    hidden = (
        HiddenGoldExposure.objects.filter(rater_id__in=list(by_user))
        .order_by()
        .annotate(hidden=Value(True))
        .values_list("rater_id", "gold_item_id", "hidden")
    )
    seen: dict[int, set[int]] = {pk: set() for pk in ids}
    for owner, gold_id, is_hidden in training.union(exam, hidden, all=True):
        seen[by_user[owner] if is_hidden else owner].add(gold_id)
    return seen


# ---------------------------------------------------------------------------------------------- training


def training_start(*, enrollment: Enrollment) -> Enrollment:
    """invited → training, once the volunteer's round is open."""
    return training_start_many(enrollments=[enrollment])[0]


@transaction.atomic
def training_start_many(*, enrollments: Sequence[Enrollment]) -> list[Enrollment]:
    """:func:`training_start` for a cohort: one round check and one bulk transition. All or nothing."""
    todo = [e for e in enrollments if e.state != S.TRAINING]
    open_rounds = _open_rounds(todo)
    for enrollment in todo:
        if not _round_is_open(enrollment, open_rounds):
            raise _round_closed_error(enrollment)
    enrollment_transition_many(moves=[(e, S.TRAINING, "started training") for e in todo])
    return list(enrollments)


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


def training_next_batch(*, enrollment: Enrollment, n: int) -> list[TrainingAnswer]:
    """Bulk path of :func:`training_next`: up to ``n`` training images at once (the pending ones first), for
    clients that show several images before their feedback (and the simulation). Same rules: fresh gold
    items of the standard, never more than the round's ``n_training``; in retraining, its remaining items."""
    return training_next_batches(enrollments=[enrollment], n=n)[enrollment.pk]


@transaction.atomic
def training_next_batches(*, enrollments: Sequence[Enrollment], n: int) -> dict[int, list[TrainingAnswer]]:
    """:func:`training_next_batch` of a cohort (``{enrollment id: items}``) in a constant number of
    statements: the locks, the open rounds, the round's rows, the pending items, what each has seen, one
    insert. All or nothing: a volunteer outside training or retraining raises."""
    rows = _lock([e.pk for e in enrollments])
    n = max(n, 0)
    out: dict[int, list[TrainingAnswer]] = {e.pk: [] for e in rows}
    retraining = [e for e in rows if e.state == S.RETRAINING]
    training = [e for e in rows if e.state != S.RETRAINING]
    for enrollment in training:
        if enrollment.state != S.TRAINING:
            raise ConflictError(
                "Training is available only in the training phase.", extra={"state": enrollment.state}
            )
    open_rounds = _open_rounds(training)
    for enrollment in training:
        if not _round_is_open(enrollment, open_rounds):
            raise _round_closed_error(enrollment)
    if retraining:
        current = retraining_current_many(enrollments=retraining)
        owner = {r.pk: pk for pk, r in current.items() if r is not None}
        for item in (
            TrainingAnswer.objects.filter(retraining_id__in=list(owner), answered_at__isnull=True)
            .select_related("gold_item")
            .order_by("id")
        ):
            out[owner[item.retraining_id]].append(item)
        for pk in owner.values():
            out[pk] = out[pk][:n]
    if not training:
        return out
    in_round: dict[int, int] = dict.fromkeys(out, 0)
    pending_ids: list[int] = []
    round_of = {e.pk: e.round_number for e in training}
    for enrollment_id, round_number, answered_at, pk in (
        TrainingAnswer.objects.filter(enrollment_id__in=list(round_of), retraining__isnull=True)
        .order_by("id")
        .values_list("enrollment_id", "round_number", "answered_at", "id")
    ):
        in_round[enrollment_id] += round_number == round_of[enrollment_id]
        if answered_at is None:
            pending_ids.append(pk)
    pending: dict[int, list[TrainingAnswer]] = {e.pk: [] for e in training}
    if pending_ids:
        for item in (
            TrainingAnswer.objects.filter(pk__in=pending_ids).select_related("gold_item").order_by("id")
        ):
            pending[item.enrollment_id].append(item)
    room = {
        e.pk: min(n, e.protocol.n_training - in_round[e.pk]) if n > len(pending[e.pk]) else 0
        for e in training
    }
    growing = [e for e in training if room[e.pk] > 0]
    seen = seen_gold_ids_many(enrollments=growing) if growing else {}
    new: list[TrainingAnswer] = []
    banks: dict[int, list[int]] = {}
    for enrollment in growing:
        standard = enrollment.protocol.standard
        if standard.pk not in banks:
            banks[standard.pk] = [it.pk for it in gold_bank(standard=standard).items]
        candidates = [pk for pk in banks[standard.pk] if pk not in seen[enrollment.pk]]
        chosen = _random.sample(candidates, min(room[enrollment.pk], len(candidates)))
        new.extend(
            TrainingAnswer(enrollment=enrollment, round_number=enrollment.round_number, gold_item_id=pk)
            for pk in chosen
        )
    created = TrainingAnswer.objects.bulk_create(new)
    items = (
        {g.pk: g for g in GoldItem.objects.filter(pk__in={a.gold_item_id for a in created})}
        if created
        else {}
    )
    fresh: dict[int, list[TrainingAnswer]] = {e.pk: [] for e in training}
    for answer in created:
        answer.gold_item = items[answer.gold_item_id]
        fresh[answer.enrollment_id].append(answer)
    for enrollment in training:
        out[enrollment.pk] = (pending[enrollment.pk] + fresh[enrollment.pk])[:n]
    return out


@transaction.atomic
def training_answer(*, enrollment: Enrollment, answer_id: int, scores: Any) -> dict[str, Any]:
    """Store a training answer and return the feedback: expert mean/SD/rationale beside the volunteer's scores."""
    return training_answer_many(enrollment=enrollment, answers={answer_id: scores})[0]


def training_answer_many(*, enrollment: Enrollment, answers: dict[int, Any]) -> list[dict[str, Any]]:
    """Store several training answers (``{training item id: scores}``) and return the feedback of each, in
    the order given. All or nothing: one bad answer stores none. Completing a retraining's last item marks
    the retraining complete (the retake is then unlocked once the retake delay has passed)."""
    return training_answer_cohort(answers=[(enrollment, answers)])[enrollment.pk]


@transaction.atomic
def training_answer_cohort(
    *, answers: Sequence[tuple[Enrollment, dict[int, Any]]]
) -> dict[int, list[dict[str, Any]]]:
    """:func:`training_answer_many` of a cohort (``[(enrollment, {training item id: scores}), …]``) →
    ``{enrollment id: feedback list}``, all or nothing, in a constant number of statements."""
    wanted = [(enrollment, int(i)) for enrollment, given in answers for i in given]
    out: dict[int, list[dict[str, Any]]] = {enrollment.pk: [] for enrollment, _ in answers}
    if not wanted:
        return out
    rows = {
        a.pk: a
        for a in TrainingAnswer.objects.select_for_update(of=("self",))
        .select_related("gold_item__standard", "enrollment__protocol__standard", "retraining")
        .filter(pk__in=[i for _, i in wanted])
    }
    for enrollment, given in answers:
        missing = [int(i) for i in given if int(i) not in rows or rows[int(i)].enrollment_id != enrollment.pk]
        if missing:
            raise NotFoundError("No such training item.", extra={"ids": missing})
    now = timezone.now()
    for enrollment, given in answers:
        ids = [int(i) for i in given]
        locked = rows[ids[0]].enrollment if ids else enrollment
        for answer_id, scores in zip(ids, given.values(), strict=True):
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
            answer.scores = _validate(protocol_of(enrollment=locked), scores)
            answer.answered_at = now
    update_rows(TrainingAnswer, list(rows.values()), ["scores", "answered_at"])
    retraining_ids = {a.retraining_id for a in rows.values() if a.retraining_id}
    if retraining_ids:
        unfinished = set(
            TrainingAnswer.objects.filter(retraining_id__in=retraining_ids, answered_at__isnull=True)
            .order_by()
            .values_list("retraining_id", flat=True)
            .distinct()
        )
        if retraining_ids - unfinished:
            Retraining.objects.filter(pk__in=retraining_ids - unfinished, completed_at__isnull=True).update(
                completed_at=now
            )
    for enrollment, given in answers:
        out[enrollment.pk] = [training_feedback(answer=rows[int(i)]) for i in given]
    return out


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
    return retraining_current_many(enrollments=[enrollment])[enrollment.pk]


def retraining_current_many(*, enrollments: Sequence[Enrollment]) -> dict[int, Retraining | None]:
    """:func:`retraining_current` of each enrollment (with its attempt) in one statement."""
    current: dict[int, Retraining | None] = {e.pk: None for e in enrollments}
    for retraining in (
        Retraining.objects.filter(enrollment_id__in=list(current)).select_related("attempt").order_by("id")
    ):
        current[retraining.enrollment_id] = retraining  # the last one wins
    return current


def retraining_create(*, enrollment: Enrollment, attempt: Attempt, protocol: Protocol) -> Retraining:
    """Targeted retraining after the failed ``attempt``: ``n_retraining`` fresh gold items chosen for the
    failed dimensions (:mod:`annotation.qualification.retraining`), stored as unanswered training items."""
    return retraining_create_many(failed=[(enrollment, attempt, protocol)])[0]


def retraining_create_many(*, failed: Sequence[tuple[Enrollment, Attempt, Protocol]]) -> list[Retraining]:
    """:func:`retraining_create` for several failed attempts (one per enrollment): what each volunteer has
    seen in one statement, then one insert of the retrainings and one of their items."""
    if not failed:
        return []
    seen = seen_gold_ids_many(enrollments=[e for e, _, _ in failed])
    banks: dict[int, GoldBank] = {}
    plans = []
    for enrollment, attempt, protocol in failed:
        keys = attempt.result.get("dimension_keys") or [d.key for d in standard_dims(protocol.standard)]
        focus = retraining_focus(
            attempt.result,
            keys=keys,
            max_mae=protocol.max_mae,
            min_mean_srcc=protocol.min_mean_srcc,
            max_abs_bias=protocol.max_abs_bias,
            weak_srcc=pass_rule_of(protocol).weak_dimension_srcc,
        )
        if protocol.standard_id not in banks:
            banks[protocol.standard_id] = gold_bank(standard=protocol.standard)
        bank = banks[protocol.standard_id]
        index = bank_index(bank)
        exclude = {index[g] for g in seen[enrollment.pk] if g in index}
        picks = pick_retraining_items(
            bank.means,
            focus=[bank.keys.index(k) for k in focus if k in bank.keys] or [0],
            n_items=protocol.n_retraining,
            exclude=exclude,
            rng=np.random.default_rng(_random.getrandbits(64)),
        )
        plans.append((enrollment, attempt, focus, bank, picks))
    retrainings = Retraining.objects.bulk_create(
        Retraining(enrollment=enrollment, attempt=attempt, focus_dimensions=focus, n_items=len(picks))
        for enrollment, attempt, focus, _, picks in plans
    )
    TrainingAnswer.objects.bulk_create(
        TrainingAnswer(
            enrollment=enrollment,
            round_number=enrollment.round_number,
            gold_item=bank.items[i],
            retraining=retraining,
            focus_dimension=bank.keys[d],
        )
        for retraining, (enrollment, _, _, bank, picks) in zip(retrainings, plans, strict=True)
        for i, d in picks
    )
    # The bank has nothing fresh left for these: nothing to show, the retraining is complete.
    empty = [r for r, plan in zip(retrainings, plans, strict=True) if not plan[4]]
    if empty:
        done_at = timezone.now()
        for retraining in empty:
            retraining.completed_at = done_at
        Retraining.objects.filter(pk__in=[r.pk for r in empty]).update(completed_at=done_at)
    return retrainings


_BANK_INDEX: dict[int, tuple[GoldBank, dict[int, int]]] = {}


def bank_index(bank: GoldBank) -> dict[int, int]:
    """``{gold item id: row of the bank}`` (kept beside the cached bank while it is current)."""
    cached = _BANK_INDEX.get(id(bank))
    if cached is None or cached[0] is not bank:
        _BANK_INDEX.clear()
        cached = (bank, {item.pk: i for i, item in enumerate(bank.items)})
        _BANK_INDEX[id(bank)] = cached
    return cached[1]


# -------------------------------------------------------------------------------------------------- exams


def _retake_number(
    enrollment: Enrollment,
    protocol: Protocol,
    kind: str,
    cycle: int,
    previous: list[tuple[int, bool | None, dt.datetime | None]],
    now: dt.datetime,
) -> int:
    """Attempt number of a retake, or raise why a retake is not possible now. ``previous``: the (number,
    passed, submitted at) of the volunteer's attempts of this kind in this cycle, by number."""
    if not previous:
        return 1
    _, last_passed, last_submitted = previous[-1]
    if last_passed:
        raise ConflictError("You have already passed this exam.")
    if len(previous) >= protocol.max_attempts:
        raise ConflictError("No attempts left.", extra={"code": "no_attempts_left"})
    ready_at = last_submitted + protocol.retake_delay
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
    return exam_start_many(enrollments=[enrollment], now=now)[0]


@transaction.atomic
def exam_start_many(*, enrollments: Sequence[Enrollment], now: dt.datetime | None = None) -> list[Attempt]:
    """:func:`exam_start` for a cohort (same rules per volunteer, attempts in the order given), all or
    nothing: the first volunteer who may not start raises, and nothing is written. A constant number of
    statements: the locks, open attempts, open rounds, training counts, current retrainings, earlier
    attempts and re-qualification cycles, one bulk transition, what each has seen, two inserts."""
    now = now or timezone.now()
    rows = _lock([e.pk for e in enrollments])
    ids = [e.pk for e in rows]
    open_attempts = {
        a.enrollment_id: a for a in Attempt.objects.filter(enrollment_id__in=ids, status=Attempt.Status.OPEN)
    }
    todo = [e for e in rows if e.pk not in open_attempts]
    if not todo:
        return [open_attempts[pk] for pk in ids]
    todo_ids = [e.pk for e in todo]
    by_state: dict[str, list[Enrollment]] = {}
    for enrollment in todo:
        by_state.setdefault(enrollment.state, []).append(enrollment)
    open_rounds = _open_rounds([e for e in todo if e.state in (S.TRAINING, S.EXAM, S.RETRAINING)])
    # The round's ordinary training: answered in this round, and pending (any round).
    done: dict[int, int] = {}
    has_pending: set[int] = set()
    if S.TRAINING in by_state:
        round_of = {e.pk: e.round_number for e in by_state[S.TRAINING]}
        for enrollment_id, round_number, answered_at in (
            TrainingAnswer.objects.filter(enrollment_id__in=list(round_of), retraining__isnull=True)
            .order_by()
            .values_list("enrollment_id", "round_number", "answered_at")
        ):
            if answered_at is None:
                has_pending.add(enrollment_id)
            elif round_number == round_of[enrollment_id]:
                done[enrollment_id] = done.get(enrollment_id, 0) + 1
    current = retraining_current_many(enrollments=by_state[S.RETRAINING]) if S.RETRAINING in by_state else {}
    previous: dict[tuple[int, str, int], list[tuple[int, bool | None, dt.datetime | None]]] = {}
    for enrollment_id, kind, round_number, number, passed, submitted_at in (
        Attempt.objects.filter(enrollment_id__in=todo_ids)
        .order_by("number")
        .values_list("enrollment_id", "kind", "round_number", "number", "passed", "submitted_at")
    ):
        previous.setdefault((enrollment_id, kind, round_number), []).append((number, passed, submitted_at))
    requal = [e.pk for e in todo if e.state in (S.SUSPENDED, S.REQUALIFYING, S.RETRAINING)]
    requal_cycles = (
        dict(
            Transition.objects.filter(
                enrollment_id__in=requal, from_state=S.SUSPENDED, to_state=S.REQUALIFYING
            )
            .order_by()
            .values_list("enrollment_id")
            .annotate(n=Count("id"))
            .values_list("enrollment_id", "n")
        )
        if requal
        else {}
    )
    fresh_left: dict[int, bool] = {}
    seen = seen_gold_ids_many(enrollments=todo)
    banks: dict[int, GoldBank] = {}
    for enrollment in todo:
        standard = protocol_of(enrollment=enrollment).standard
        if standard.pk not in banks:
            banks[standard.pk] = gold_bank(standard=standard)
        bank = banks[standard.pk]
        fresh_left[enrollment.pk] = any(it.pk not in seen[enrollment.pk] for it in bank.items)

    plans: list[tuple[Enrollment, str, int, int]] = []  # (enrollment, kind, cycle, number)
    moves = []
    for enrollment in todo:
        protocol = protocol_of(enrollment=enrollment)
        state = enrollment.state
        to_state: str | None = None
        reason = ""
        if state == S.TRAINING:
            if not _round_is_open(enrollment, open_rounds):
                raise _round_closed_error(enrollment)
            n_done = done.get(enrollment.pk, 0)
            # training_next would still serve an image: a pending one, or a fresh one from the bank.
            if n_done < protocol.n_training and (enrollment.pk in has_pending or fresh_left[enrollment.pk]):
                raise ConflictError(
                    f"Finish the training first ({n_done} of {protocol.n_training} images).",
                    extra={"code": "training_incomplete", "done": n_done, "needed": protocol.n_training},
                )
            kind, cycle = Attempt.Kind.QUALIFICATION, enrollment.round_number
            to_state, reason = S.EXAM, f"exam round {enrollment.round_number}"
        elif state == S.EXAM:  # an attempt was voided (admin action): start a fresh one
            if not _round_is_open(enrollment, open_rounds):
                raise _round_closed_error(enrollment)
            kind, cycle = Attempt.Kind.QUALIFICATION, enrollment.round_number
        elif state == S.RETRAINING:
            retraining = current[enrollment.pk]
            kind = retraining.attempt.kind if retraining else Attempt.Kind.QUALIFICATION
            if kind == Attempt.Kind.QUALIFICATION and not _round_is_open(enrollment, open_rounds):
                raise _round_closed_error(enrollment)
            if retraining is not None and retraining.completed_at is None:
                n_done = retraining.items.filter(answered_at__isnull=False).count()
                raise ConflictError(
                    f"Finish the retraining first ({n_done} of {retraining.n_items} images).",
                    extra={"code": "retraining_incomplete", "done": n_done, "needed": retraining.n_items},
                )
            cycle = (
                enrollment.round_number
                if kind == Attempt.Kind.QUALIFICATION
                else requal_cycles.get(enrollment.pk, 0)
            )
            to_state = S.EXAM if kind == Attempt.Kind.QUALIFICATION else S.REQUALIFYING
        elif state == S.SUSPENDED:
            kind = Attempt.Kind.REQUALIFICATION
            cycle = requal_cycles.get(enrollment.pk, 0) + 1  # counting the move made now
            to_state, reason = S.REQUALIFYING, "started re-qualification"
        elif state == S.REQUALIFYING:
            kind, cycle = Attempt.Kind.REQUALIFICATION, requal_cycles.get(enrollment.pk, 0)
        else:
            raise ConflictError(
                f"No exam is available to a volunteer who is {enrollment.get_state_display().lower()}.",
                extra={"code": "illegal_transition", "from": enrollment.state, "to": "exam"},
            )
        number = _retake_number(
            enrollment, protocol, kind, cycle, previous.get((enrollment.pk, kind, cycle), []), now
        )
        if state == S.RETRAINING:
            reason = f"retraining done; retake {number}"
        if to_state is not None:
            moves.append((enrollment, to_state, reason))
        plans.append((enrollment, kind, cycle, number))
    transition_locked(moves=moves)

    forms = []
    for enrollment, _, _, _ in plans:
        bank = banks[protocol_of(enrollment=enrollment).standard.pk]
        index = bank_index(bank)
        exclude = {index[g] for g in seen[enrollment.pk] if g in index}
        protocol = protocol_of(enrollment=enrollment)
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
        forms.append((bank, form))
    attempts = Attempt.objects.bulk_create(
        Attempt(enrollment=enrollment, kind=kind, round_number=cycle, number=number)
        for enrollment, kind, cycle, number in plans
    )
    AttemptItem.objects.bulk_create(
        (
            AttemptItem(attempt=attempt, gold_item=bank.items[i], position=pos, is_warmup=warm)
            for attempt, (bank, form) in zip(attempts, forms, strict=True)
            for pos, (i, warm) in enumerate(
                [(i, True) for i in form.warmup] + [(i, False) for i in form.scored]
            )
        ),
        batch_size=5000,
    )
    started = {a.enrollment_id: a for a in attempts}
    return [open_attempts.get(pk) or started[pk] for pk in ids]


def _attempt_for_update(attempt: Attempt, enrollment: Enrollment) -> Attempt:
    locked = Attempt.objects.select_for_update().filter(pk=attempt.pk, enrollment=enrollment).first()
    if locked is None:
        raise NotFoundError("No such exam attempt.")
    return _check_open(locked)


def _check_open(locked: Attempt) -> Attempt:
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
    return attempts_submit_many(submissions=[(enrollment, attempt, answers)], now=now)[0]


Submission = tuple[Enrollment, Attempt, dict[int, Any] | None]  # (enrollment, attempt, {position: scores})


@transaction.atomic
def attempts_submit_many(
    *, submissions: Sequence[Submission], now: dt.datetime | None = None
) -> list[Attempt]:
    """:func:`attempt_submit` for a cohort (one attempt per volunteer), all or nothing, same rules and
    checks per volunteer, in a constant number of statements: the locks (enrollments, then attempts, as
    everywhere), the items, one write of the answers and one of the attempts, the attempt counts of the
    failed, their retrainings, one bulk transition. Returns the submitted attempts in the order given."""
    now = now or timezone.now()
    if not submissions:
        return []
    # Lock order everywhere: enrollment, then attempt (round_close and admin actions lock the enrollment
    # first too), so concurrent submits and closes serialise instead of deadlocking.
    enrollments = _lock([e.pk for e, _, _ in submissions])
    locked = {
        a.pk: a
        for a in Attempt.objects.select_for_update()
        .filter(pk__in=[a.pk for _, a, _ in submissions])
        .order_by("id")
    }
    attempts: list[Attempt] = []
    for enrollment, (_, given, _) in zip(enrollments, submissions, strict=True):
        attempt = locked.get(given.pk)
        if attempt is None or attempt.enrollment_id != enrollment.pk:
            raise NotFoundError("No such exam attempt.")
        _check_open(attempt)
        if enrollment.state not in ATTEMPT_STATES:  # defensive: transitions void open attempts
            raise ConflictError(
                f"A volunteer who is {enrollment.get_state_display().lower()} cannot submit an exam.",
                extra={"code": "illegal_transition", "from": enrollment.state},
            )
        attempts.append(attempt)
    items: dict[int, list[AttemptItem]] = {a.pk: [] for a in attempts}
    for item in AttemptItem.objects.filter(attempt_id__in=list(items)).order_by("attempt_id", "position"):
        items[item.attempt_id].append(item)
    # The forms' gold, fresh from the database (never the cached bank), each item read once.
    golds = {
        g.pk: g
        for g in GoldItem.objects.filter(
            pk__in={it.gold_item_id for form in items.values() for it in form}
        ).only("id", "expert_mean", "expert_sd")
    }
    changed: list[AttemptItem] = []
    for enrollment, attempt, (_, _, answers) in zip(enrollments, attempts, submissions, strict=True):
        if not answers:
            continue
        protocol = protocol_of(enrollment=enrollment)
        by_pos = {it.position: it for it in items[attempt.pk]}
        for position, scores in answers.items():
            item = by_pos.get(int(position))
            if item is None:
                raise NotFoundError(f"No exam item at position {position}.")
            item.scores = _validate(protocol, scores)
            item.answered_at = now
            changed.append(item)
    update_rows(AttemptItem, changed, ["scores", "answered_at"])
    for attempt in attempts:
        missing = [it.position for it in items[attempt.pk] if it.answered_at is None]
        if missing:
            raise ApplicationError(
                f"Answer every image before submitting ({len(missing)} left).", extra={"unanswered": missing}
            )
    for enrollment, attempt in zip(enrollments, attempts, strict=True):
        protocol = protocol_of(enrollment=enrollment)
        keys = [d.key for d in standard_dims(protocol.standard)]
        scored = [it for it in items[attempt.pk] if not it.is_warmup]
        nan = float("nan")
        responses = np.array([[nan if it.scores[k] is None else it.scores[k] for k in keys] for it in scored])
        gold = np.array([[float(golds[it.gold_item_id].expert_mean[k]) for k in keys] for it in scored])
        gold_sd = np.array(
            [[float(golds[it.gold_item_id].expert_sd.get(k, 0.0)) for k in keys] for it in scored]
        )
        result = score_exam(responses, gold, rule=pass_rule_of(protocol), gold_sd=gold_sd)
        payload = result.to_dict()
        payload["dimension_keys"] = keys
        payload["weak_dimension_keys"] = [keys[i] for i in result.weak_dimensions]
        attempt.status = Attempt.Status.SUBMITTED
        attempt.submitted_at = now
        attempt.passed = result.passed
        attempt.result = payload
    update_rows(Attempt, attempts, ["status", "submitted_at", "passed", "result"])
    _after_submit_many(entries=list(zip(enrollments, attempts, strict=True)), now=now)
    return attempts


def _after_submit_many(*, entries: list[tuple[Enrollment, Attempt]], now: dt.datetime) -> None:
    """Move each volunteer on after a scored attempt: pass → next round or certified; fail → retraining
    for the retake, or exit after the last attempt. One bulk transition for all."""
    failed = [(e, a) for e, a in entries if not a.passed]
    used: dict[tuple[int, str, int], int] = {}
    if failed:
        for enrollment_id, kind, round_number, n in (
            Attempt.objects.filter(enrollment_id__in=[e.pk for e, _ in failed])
            .order_by()
            .values_list("enrollment_id", "kind", "round_number")
            .annotate(n=Count("id"))
            .values_list("enrollment_id", "kind", "round_number", "n")
        ):
            used[(enrollment_id, kind, round_number)] = n
    moves: dict[int, tuple[Enrollment, str, str]] = {}
    retrain: list[tuple[Enrollment, Attempt, Protocol]] = []
    for enrollment, attempt in entries:
        protocol = protocol_of(enrollment=enrollment)
        label = f"attempt {attempt.number}"
        if attempt.passed:
            if attempt.kind == Attempt.Kind.REQUALIFICATION:
                moves[enrollment.pk] = (enrollment, S.CERTIFIED, f"passed re-qualification {label}")
                continue
            enrollment.rounds_passed = max(enrollment.rounds_passed, attempt.round_number)
            if attempt.round_number >= protocol.n_iterations:
                moves[enrollment.pk] = (
                    enrollment,
                    S.CERTIFIED,
                    f"passed round {attempt.round_number}, {label}",
                )
            else:
                enrollment.round_number = attempt.round_number + 1
                moves[enrollment.pk] = (
                    enrollment,
                    S.TRAINING,
                    f"passed round {attempt.round_number}; training for round {enrollment.round_number}",
                )
            continue
        if used.get((enrollment.pk, attempt.kind, attempt.round_number), 0) >= protocol.max_attempts:
            what = (
                "re-qualification"
                if attempt.kind == Attempt.Kind.REQUALIFICATION
                else f"round {attempt.round_number}"
            )
            moves[enrollment.pk] = (
                enrollment,
                S.EXITED,
                f"failed {what} {label} of {protocol.max_attempts}",
            )
            continue
        retrain.append((enrollment, attempt, protocol))
    for (enrollment, attempt, _), retraining in zip(
        retrain, retraining_create_many(failed=retrain), strict=True
    ):
        moves[enrollment.pk] = (
            enrollment,
            S.RETRAINING,
            f"failed attempt {attempt.number}; retraining on {', '.join(retraining.focus_dimensions) or 'the form'}",
        )
    transition_locked(
        moves=[moves[e.pk] for e, _ in entries], now=now, extra_fields=("rounds_passed", "round_number")
    )


__all__ = ["attempt_retake_at", "protocol_of", "training_done_count"]  # re-exported reads
