"""The volunteer state machine and the training → exam → certified | exited flow through real services."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from annotation.qualification.models import Attempt, Enrollment, Transition
from annotation.qualification.services import exams, states
from annotation.qualification.services.protocols import round_close, round_open
from humanbeauty.errors import ApplicationError, ConflictError

from .conftest import finish_retraining, finish_training, submit_exam

pytestmark = pytest.mark.django_db
S = Enrollment.State


def test_transition_table_refuses_everything_not_listed(enrolled) -> None:
    from .test_state_machine_property import oracle  # the protocol written out independently

    for from_state, to_state in itertools.product(S.values, S.values):
        allowed = oracle(from_state, to_state, admin=False)
        assert states.transition_allowed(from_state=from_state, to_state=to_state) is allowed
    assert states.TRANSITIONS[S.EXITED] == frozenset()
    enrollment = enrolled()
    with pytest.raises(ConflictError) as exc:
        states.enrollment_transition(enrollment=enrollment, to_state=S.CERTIFIED, reason="skip the exam")
    assert exc.value.status == 409 and exc.value.extra["code"] == "illegal_transition"
    assert "invited cannot become certified" in exc.value.message
    assert Transition.objects.filter(enrollment=enrollment).count() == 1  # only the creation row


def test_every_change_is_logged(enrolled, gold_items) -> None:
    enrollment = enrolled()
    finish_training(enrollment)
    submit_exam(enrollment, good=True)
    log = list(Transition.objects.filter(enrollment=enrollment).values_list("from_state", "to_state"))
    assert log == [("", "invited"), ("invited", "training"), ("training", "exam"), ("exam", "certified")]
    enrollment.refresh_from_db()
    assert enrollment.state == S.CERTIFIED and enrollment.certified_at is not None


def test_exam_needs_finished_training(enrolled, gold_items) -> None:
    enrollment = enrolled()
    with pytest.raises(ConflictError):
        exams.exam_start(enrollment=enrollment)  # invited: no exam
    exams.training_start(enrollment=enrollment)
    with pytest.raises(ConflictError) as exc:
        exams.exam_start(enrollment=enrollment)
    assert exc.value.extra["code"] == "training_incomplete"


def test_training_feedback_has_expert_scores_and_rationale(enrolled, gold_items) -> None:
    enrollment = enrolled()
    exams.training_start(enrollment=enrollment)
    item = exams.training_next(enrollment=enrollment)
    assert exams.training_next(enrollment=enrollment).pk == item.pk  # pending item is resumed
    scores = dict.fromkeys(item.gold_item.expert_mean, 0.5)
    feedback = exams.training_answer(enrollment=enrollment, answer_id=item.pk, scores=scores)
    dims = {d["key"]: d for d in feedback["dimensions"]}
    assert len(dims) == 12
    assert dims["overall"]["expert_mean"] == item.gold_item.expert_mean["overall"]
    assert dims["overall"]["rationale"].startswith("expert note overall")
    with pytest.raises(ConflictError):
        exams.training_answer(enrollment=enrollment, answer_id=item.pk, scores=scores)


def test_exam_form_is_fresh_and_has_warmups(enrolled, gold_items) -> None:
    enrollment = enrolled()
    finish_training(enrollment)
    attempt = exams.exam_start(enrollment=enrollment)
    assert exams.exam_start(enrollment=enrollment).pk == attempt.pk  # resumed, not redrawn
    items = list(attempt.items.all())
    assert len(items) == 7 and sum(it.is_warmup for it in items) == 1
    training_ids = set(enrollment.training_answers.values_list("gold_item_id", flat=True))
    assert not training_ids & {it.gold_item_id for it in items}


def test_fail_retake_after_delay_on_new_form_then_exit(enrolled, gold_items) -> None:
    enrollment = enrolled()
    finish_training(enrollment)
    first = submit_exam(enrollment, good=False)
    assert first.passed is False and "rank correlation" in " ".join(first.result["reasons"])
    enrollment.refresh_from_db()
    assert enrollment.state == S.RETRAINING  # sent back to training on what failed
    with pytest.raises(ConflictError) as exc:
        exams.exam_start(enrollment=enrollment)
    assert exc.value.extra["code"] == "retraining_incomplete"
    finish_retraining(enrollment)
    with pytest.raises(ConflictError) as exc:
        exams.exam_start(enrollment=enrollment)
    assert exc.value.extra["code"] == "retake_delay"
    enrollment.refresh_from_db()
    assert enrollment.state == S.RETRAINING  # a refused start changes nothing
    later = timezone.now() + dt.timedelta(hours=2)
    second = submit_exam(enrollment, good=False, now=later)
    assert second.number == 2
    assert not {i.gold_item_id for i in first.items.all()} & {i.gold_item_id for i in second.items.all()}
    enrollment.refresh_from_db()
    assert enrollment.state == S.EXITED and enrollment.exited_at is not None
    with pytest.raises(ConflictError):
        exams.exam_start(enrollment=enrollment, now=later + dt.timedelta(days=3))


def test_submit_needs_every_answer(enrolled, gold_items) -> None:
    enrollment = enrolled()
    finish_training(enrollment)
    attempt = exams.exam_start(enrollment=enrollment)
    with pytest.raises(ApplicationError) as exc:
        exams.attempt_submit(enrollment=enrollment, attempt=attempt)
    assert len(exc.value.extra["unanswered"]) == 7
    assert Attempt.objects.get(pk=attempt.pk).status == "open"


def test_two_rounds_and_round_close_exits_the_rest(enrolled, gold_items, protocol, admin_user) -> None:
    protocol.n_iterations = 2
    protocol.save()
    good, slow = enrolled(), enrolled()
    finish_training(good)
    submit_exam(good, good=True)
    good.refresh_from_db()
    assert (good.state, good.round_number, good.rounds_passed) == (S.TRAINING, 2, 1)
    with pytest.raises(ConflictError) as exc:
        exams.training_next(enrollment=good)  # round 2 not open yet
    assert exc.value.extra["code"] == "round_not_open"
    with pytest.raises(ConflictError):
        round_open(protocol=protocol, actor=admin_user)  # round 1 still open
    result = round_close(round=protocol.rounds.get(number=1), actor=admin_user)
    assert result == {"round": 1, "exited": 1}
    slow.refresh_from_db()
    assert slow.state == S.EXITED
    round_open(protocol=protocol, actor=admin_user)
    finish_training(good)
    submit_exam(good, good=True)
    good.refresh_from_db()
    assert (good.state, good.rounds_passed) == (S.CERTIFIED, 2)


def test_suspended_requalifies_on_a_new_form(enrolled, gold_items, protocol) -> None:
    from annotation.qualification.services.monitoring import recertification_tick

    enrollment = enrolled()
    finish_training(enrollment)
    submit_exam(enrollment, good=True)
    protocol.recertification_interval = dt.timedelta(days=30)
    protocol.save()
    assert recertification_tick() == {"suspended_for_recertification": 0}
    later = timezone.now() + dt.timedelta(days=31)
    assert recertification_tick(now=later) == {"suspended_for_recertification": 1}
    assert recertification_tick(now=later) == {"suspended_for_recertification": 0}  # idempotent
    enrollment.refresh_from_db()
    assert enrollment.state == S.SUSPENDED
    attempt = submit_exam(enrollment, good=True, now=later)
    assert attempt.kind == "requalification"
    enrollment.refresh_from_db()
    assert enrollment.state == S.CERTIFIED
    assert list(Transition.objects.filter(enrollment=enrollment).values_list("to_state", flat=True))[-3:] == [
        "suspended",
        "requalifying",
        "certified",
    ]


def test_recertification_task_runs_the_service() -> None:
    from annotation.qualification.tasks import recertification_tick_task

    assert recertification_tick_task.name == "qualification.recertification_tick"
    assert recertification_tick_task.delay().get() == {"suspended_for_recertification": 0}
