"""The iterative protocol across rounds, retraining and re-certification.

The property test drives volunteer *and* admin actions chosen by Hypothesis through the services and checks
every outcome against :class:`Oracle`, a model written from the protocol's description in
docs/qualification.md (not from ``services.states.TRANSITIONS``).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

import pytest
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.qualification.models import Attempt, Enrollment, Retraining, Round, TrainingAnswer
from annotation.qualification.services import exams, monitoring, states
from annotation.qualification.services.protocols import (
    enrollment_invite_user,
    protocol_create,
    round_close,
    round_open,
)
from humanbeauty.errors import ApplicationError, ConflictError

from .conftest import finish_retraining, finish_training, gold_scores, submit_exam

S = Enrollment.State
DELAY = dt.timedelta(hours=1)
INTERVAL = dt.timedelta(days=30)


@dataclass
class Oracle:
    """What the protocol says should happen to one volunteer (2 rounds, 2 attempts per exam cycle)."""

    n_rounds: int = 2
    max_attempts: int = 2
    state: str = "invited"
    round: int = 1  # the round the volunteer is in
    rounds: dict[int, str] = field(default_factory=lambda: {1: "open"})
    trained: bool = False  # this round's training done
    open_attempt: bool = False
    requal: bool = False  # the current exam cycle is a re-qualification
    failures: int = 0  # failed attempts in the current cycle
    retrained: bool = False
    retake_at: dt.datetime | None = None
    certified_at: dt.datetime | None = None
    passed_rounds: int = 0

    def round_open(self) -> bool:
        return self.rounds.get(self.round) == "open"

    # Each method returns True if the action must succeed (and applies it), False if it must be refused.
    def train(self) -> bool:
        if self.state != "training" or not self.round_open():
            return False
        self.trained = True
        return True

    def start_training(self) -> bool:
        if self.state == "training":
            return True  # idempotent
        if self.state != "invited" or not self.round_open():
            return False
        self.state = "training"
        return True

    def start_exam(self, now: dt.datetime) -> bool:
        if self.open_attempt:
            return True  # resumes the open attempt
        if self.state == "training" and self.trained and self.round_open():
            self.state, self.requal, self.failures = "exam", False, 0
        elif self.state == "suspended":
            self.state, self.requal, self.failures = "requalifying", True, 0
        elif self.state == "retraining" and self.retrained and now >= self.retake_at:
            if not self.requal and not self.round_open():
                return False
            self.state = "requalifying" if self.requal else "exam"
        else:
            return False
        self.open_attempt = True
        return True

    def submit(self, good: bool, now: dt.datetime) -> bool:
        if not self.open_attempt:
            return False
        self.open_attempt = False
        if good:
            if self.requal or self.round >= self.n_rounds:
                self.passed_rounds = max(self.passed_rounds, self.round)
                self.state, self.certified_at = "certified", now
            else:
                self.passed_rounds = self.round
                self.round += 1
                self.state, self.trained = "training", False
            return True
        self.failures += 1
        if self.failures >= self.max_attempts:
            self.state = "exited"
        else:
            self.state, self.retrained, self.retake_at = "retraining", False, now + DELAY
        return True

    def retrain(self) -> bool:
        if self.state != "retraining":
            return False
        self.retrained = True
        return True

    def open_round(self) -> bool:
        last = max(self.rounds)
        if self.rounds[last] == "open" or last + 1 > self.n_rounds:
            return False
        self.rounds[last + 1] = "open"
        return True

    def close_round(self) -> bool:
        last = max(self.rounds)
        if self.rounds[last] != "open":
            return False
        self.rounds[last] = "closed"
        in_rounds = self.state in ("invited", "training", "exam", "retraining") and self.certified_at is None
        if in_rounds and self.round == last and self.passed_rounds < last:
            self.state, self.open_attempt = "exited", False
        return True

    def admin_certify(self, now: dt.datetime) -> bool:
        # From requalifying too: passing re-qualification certifies, so the admin may as well (open attempt void).
        if self.state not in ("invited", "training", "exam", "retraining", "suspended", "requalifying"):
            return self.state == "certified"  # certifying the certified does nothing
        self.state, self.open_attempt, self.certified_at = "certified", False, now
        return True

    def admin_exit(self) -> bool:
        if self.state == "exited":
            return False
        self.state, self.open_attempt = "exited", False
        return True

    def recertification_due(self, now: dt.datetime) -> None:
        if (
            self.state == "certified"
            and self.certified_at is not None
            and now - self.certified_at >= INTERVAL
        ):
            self.state = "suspended"


ACTIONS = st.sampled_from(
    ["start_training", "train", "start_exam", "submit_good", "submit_bad", "retrain", "wait", "open_round",
     "close_round", "admin_certify", "admin_exit", "recertify"]
)  # fmt: skip


def _attempt_answers(attempt: Attempt, good: bool) -> dict[int, dict[str, float]]:
    return {
        it.position: gold_scores(it, noise=0.02, seed=it.position) if good else gold_scores(it, constant=0.5)
        for it in attempt.items.select_related("gold_item")
    }


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(ACTIONS, min_size=1, max_size=14))
def test_volunteer_and_admin_actions_match_the_oracle(make_user, admin_user, gold_items, actions) -> None:
    from annotation.models import Standard

    protocol = protocol_create(
        standard=Standard.objects.get(key="humanbeauty-v1"), name="oracle", n_iterations=2, n_training=1,
        n_scored=4, n_warmup=0, n_retraining=2, retake_delay=DELAY, max_attempts=2,
        recertification_interval=INTERVAL,
    )  # fmt: skip
    round_open(protocol=protocol)
    user = make_user("volunteer")
    enrollment = enrollment_invite_user(user=user, protocol=protocol)
    oracle = Oracle()
    now = timezone.now()

    def attempt_open() -> Attempt | None:
        return Attempt.objects.filter(enrollment=enrollment, status="open").first()

    for action in actions:
        expected: bool
        try:
            if action == "start_training":
                expected = oracle.start_training()
                exams.training_start(enrollment=enrollment)
            elif action == "train":
                expected = oracle.train()
                item = (
                    exams.training_next(enrollment=enrollment) if enrollment.state != "retraining" else None
                )
                if enrollment.state == "retraining":
                    raise ConflictError("not the training phase")
                while item is not None:
                    exams.training_answer(enrollment=enrollment, answer_id=item.pk, scores=gold_scores(item))
                    item = exams.training_next(enrollment=enrollment)
            elif action == "start_exam":
                expected = oracle.start_exam(now)
                exams.exam_start(enrollment=enrollment, now=now)
            elif action in ("submit_good", "submit_bad"):
                expected = oracle.submit(action == "submit_good", now)
                attempt = attempt_open()
                if attempt is None:
                    raise ConflictError("no open attempt")
                exams.attempt_submit(
                    enrollment=enrollment, attempt=attempt, answers=_attempt_answers(attempt, action == "submit_good"),
                    now=now,
                )  # fmt: skip
            elif action == "retrain":
                expected = oracle.retrain()
                if Enrollment.objects.get(pk=enrollment.pk).state != "retraining":
                    raise ConflictError("not retraining")
                finish_retraining(enrollment)
            elif action == "wait":
                now += 2 * DELAY
                continue
            elif action == "open_round":
                expected = oracle.open_round()
                round_open(protocol=protocol, actor=admin_user)
            elif action == "close_round":
                expected = oracle.close_round()
                last = Round.objects.filter(protocol=protocol).order_by("-number").first()
                round_close(round=last, actor=admin_user)
            elif action == "admin_certify":
                expected = oracle.admin_certify(now)
                states.volunteer_certify_by_admin(user=user, admin=admin_user, reason="oracle")
            elif action == "admin_exit":
                expected = oracle.admin_exit()
                states.volunteer_exit_by_admin(user=user, admin=admin_user, reason="oracle")
            elif action == "recertify":
                now += INTERVAL + dt.timedelta(days=1)
                oracle.recertification_due(now)
                monitoring.recertification_tick(now=now, protocol=protocol)
                expected = True
            succeeded = True
        except (ConflictError, ApplicationError):
            succeeded = False
        assert succeeded == expected, (action, oracle)
        enrollment.refresh_from_db()
        assert enrollment.state == oracle.state, (action, oracle)
        assert (attempt_open() is not None) == oracle.open_attempt, (action, oracle)
    # Every attempt that was left open when the volunteer left the exam is void, never scored.
    for attempt in Attempt.objects.filter(enrollment=enrollment, status="void"):
        assert attempt.passed is None and attempt.result == {}


def _protocol(**params):
    from annotation.models import Standard

    defaults = {"name": "rounds", "n_training": 2, "n_scored": 6, "n_warmup": 1, "retake_delay": DELAY}
    return protocol_create(standard=Standard.objects.get(key="humanbeauty-v1"), **(defaults | params))


@pytest.mark.django_db
def test_defaults_are_iterative_with_recertification(gold_items) -> None:
    p = _protocol()
    assert p.n_iterations == 3 and p.recertification_interval == dt.timedelta(days=90)
    assert p.n_retraining == 6 and p.hidden_gold_share > 0


@pytest.mark.django_db
def test_retraining_targets_the_failed_dimensions_and_unlocks_the_retake(make_user, gold_items) -> None:
    protocol = _protocol(n_iterations=1)
    round_open(protocol=protocol)
    enrollment = enrollment_invite_user(user=make_user("volunteer"), protocol=protocol)
    finish_training(enrollment)
    attempt = exams.exam_start(enrollment=enrollment)
    answers = _attempt_answers(attempt, good=True)
    for scores in answers.values():  # far too harsh on two dimensions only
        scores["overall"] = max(0.0, scores["overall"] - 0.4)
        scores["environment"] = max(0.0, scores["environment"] - 0.4)
    failed = exams.attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers)
    assert failed.passed is False
    retraining = Retraining.objects.get(attempt=failed)
    assert set(retraining.focus_dimensions[:2]) == {"overall", "environment"}
    items = list(TrainingAnswer.objects.filter(retraining=retraining))
    assert len(items) == retraining.n_items == 6
    assert {i.focus_dimension for i in items} <= set(retraining.focus_dimensions)
    seen_before = {it.gold_item_id for it in failed.items.all()} | set(
        TrainingAnswer.objects.filter(enrollment=enrollment, retraining__isnull=True).values_list(
            "gold_item_id", flat=True
        )
    )
    assert not seen_before & {i.gold_item_id for i in items}  # fresh items only
    item = exams.training_next(enrollment=enrollment)
    feedback = exams.training_answer(enrollment=enrollment, answer_id=item.pk, scores=gold_scores(item))
    flagged = {d["key"] for d in feedback["dimensions"] if d["focus"]}
    assert flagged == set(retraining.focus_dimensions) and feedback["retraining"] == retraining.pk
    later = timezone.now() + 2 * DELAY
    with pytest.raises(ConflictError) as exc:
        exams.exam_start(enrollment=enrollment, now=later)  # delay passed, retraining not finished
    assert exc.value.extra == {"code": "retraining_incomplete", "done": 1, "needed": 6}
    finish_retraining(enrollment)
    retraining.refresh_from_db()
    assert retraining.completed_at is not None
    second = submit_exam(enrollment, good=True, now=later)
    enrollment.refresh_from_db()
    assert second.number == 2 and enrollment.state == S.CERTIFIED


@pytest.mark.django_db
def test_round_closed_during_an_open_attempt_voids_it(make_user, gold_items) -> None:
    protocol = _protocol(n_iterations=2)
    rnd = round_open(protocol=protocol)
    enrollment = enrollment_invite_user(user=make_user("volunteer"), protocol=protocol)
    finish_training(enrollment)
    attempt = exams.exam_start(enrollment=enrollment)
    answers = _attempt_answers(attempt, good=True)
    assert round_close(round=rnd) == {"round": 1, "exited": 1}
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.VOID
    with pytest.raises(ConflictError) as exc:
        exams.attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers)
    assert exc.value.extra["code"] == "attempt_void"
    enrollment.refresh_from_db()
    assert enrollment.state == S.EXITED and enrollment.rounds_passed == 0


@pytest.mark.django_db
def test_requalification_failing_goes_through_retraining_into_exit(make_user, gold_items) -> None:
    protocol = _protocol(n_iterations=1, recertification_interval=INTERVAL)
    round_open(protocol=protocol)
    enrollment = enrollment_invite_user(user=make_user("volunteer"), protocol=protocol)
    finish_training(enrollment)
    submit_exam(enrollment, good=True)
    later = timezone.now() + INTERVAL + dt.timedelta(days=1)
    assert monitoring.recertification_tick(now=later, protocol=protocol) == {
        "suspended_for_recertification": 1
    }
    first = submit_exam(enrollment, good=False, now=later)
    enrollment.refresh_from_db()
    assert first.kind == "requalification" and enrollment.state == S.RETRAINING
    assert Retraining.objects.get(attempt=first).focus_dimensions
    finish_retraining(enrollment)
    second = submit_exam(enrollment, good=False, now=later + 2 * DELAY)
    enrollment.refresh_from_db()
    assert (second.kind, second.number) == ("requalification", 2)
    assert enrollment.state == S.EXITED
    reasons = list(enrollment.transitions.values_list("to_state", flat=True))
    assert reasons[-5:] == ["suspended", "requalifying", "retraining", "requalifying", "exited"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_of_one_exam_score_it_once(make_user, gold_items) -> None:
    """Two threads (two PostgreSQL connections) submit the same exam: one wins, the other gets 409."""
    protocol = _protocol(n_iterations=1)
    round_open(protocol=protocol)
    enrollment = enrollment_invite_user(user=make_user("volunteer"), protocol=protocol)
    finish_training(enrollment)
    attempt = exams.exam_start(enrollment=enrollment)
    answers = _attempt_answers(attempt, good=True)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit() -> None:
        try:
            barrier.wait()
            exams.attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers)
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            close_old_connections()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    enrollment.refresh_from_db()
    assert enrollment.state == S.CERTIFIED
    assert enrollment.transitions.filter(to_state=S.CERTIFIED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_submit_and_round_close_never_leave_a_passed_volunteer_exited(
    make_user, gold_items
) -> None:
    protocol = _protocol(n_iterations=2)
    rnd = round_open(protocol=protocol)
    enrollment = enrollment_invite_user(user=make_user("volunteer"), protocol=protocol)
    finish_training(enrollment)
    attempt = exams.exam_start(enrollment=enrollment)
    answers = _attempt_answers(attempt, good=True)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def submit() -> None:
        try:
            barrier.wait()
            outcomes["submit"] = exams.attempt_submit(
                enrollment=enrollment, attempt=attempt, answers=answers
            ).passed
        except ConflictError as exc:
            outcomes["submit"] = exc.extra.get("code")
        finally:
            close_old_connections()

    def close() -> None:
        try:
            barrier.wait()
            outcomes["close"] = round_close(round=rnd)["exited"]
        finally:
            close_old_connections()

    threads = [threading.Thread(target=submit), threading.Thread(target=close)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    enrollment.refresh_from_db()
    if outcomes["submit"] is True:  # submitted first: passed round 1, waiting for round 2, not exited
        assert outcomes["close"] == 0 and (enrollment.state, enrollment.rounds_passed) == (S.TRAINING, 1)
    else:  # closed first: the exam was voided and the volunteer exited
        assert outcomes == {"submit": "attempt_void", "close": 1} and enrollment.state == S.EXITED
