"""Bulk paths of hidden gold (many raters per call) and the gold-bank cache: same rules as the single
calls, statements that do not grow with the number of raters, all-or-nothing answers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.qualification import contract, selectors
from annotation.qualification.models import Enrollment, GoldItem, HiddenGoldExposure
from annotation.qualification.services import monitoring
from humanbeauty.errors import ApplicationError, ConflictError

pytestmark = pytest.mark.django_db


def _certified(make_user, admin_user, n: int) -> list:
    raters = [make_user("volunteer") for _ in range(n)]
    for r in raters:
        contract.volunteer_certify_by_admin(user=r, admin=admin_user, reason="expert")
    return raters


def _statements(fn) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as q:
        out = fn()
    return out, len(q)


def test_pick_many_serves_each_rater_a_fresh_item_in_constant_statements(
    make_user, admin_user, gold_items, monkeypatch
) -> None:
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)  # every request draws hidden gold
    few, many = _certified(make_user, admin_user, 2), _certified(make_user, admin_user, 12)
    selectors.gold_bank(standard=gold_items[0].standard)  # warm the cache for both counts
    served_few, n_few = _statements(lambda: monitoring.hidden_gold_pick_many(raters=few, share=0.05))
    served_many, n_many = _statements(lambda: monitoring.hidden_gold_pick_many(raters=many, share=0.05))
    assert set(served_few) == {r.pk for r in few} and set(served_many) == {r.pk for r in many}
    assert n_many == n_few  # constant in the number of raters
    for rater in many:
        exposure = HiddenGoldExposure.objects.get(rater=rater)
        assert exposure.gold_item.image_id == served_many[rater.pk].sha256
    # Never repeated: a rater who has seen the whole bank gets nothing.
    one = many[0]
    for _ in range(len(gold_items) + 3):
        monitoring.hidden_gold_pick_many(raters=[one], share=0.05)
    assert HiddenGoldExposure.objects.filter(rater=one).count() == len(gold_items)
    assert monitoring.hidden_gold_pick_many(raters=[one], share=0.05) == {}


def test_pick_many_skips_raters_who_are_not_certified(make_user, admin_user, gold_items, monkeypatch) -> None:
    from annotation.qualification.services.states import volunteer_exit_by_admin

    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    certified, gone = _certified(make_user, admin_user, 2)
    volunteer_exit_by_admin(user=gone, admin=admin_user, reason="left")
    stranger = make_user("volunteer")
    served = monitoring.hidden_gold_pick_many(raters=[certified, gone, stranger], share=0.05)
    assert set(served) == {certified.pk}


def test_submit_many_matches_the_single_submit_and_is_all_or_nothing(
    make_user, admin_user, gold_items, monkeypatch
) -> None:
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    a, b, c = _certified(make_user, admin_user, 3)
    served = monitoring.hidden_gold_pick_many(raters=[a, b, c], share=0.05)
    exact = dict(served[a.pk].gold_item.expert_mean)
    off = {k: min(1.0, v + 0.1) for k, v in served[b.pk].gold_item.expert_mean.items()}
    bad = {"overall": 7.0}  # out of range: the whole call stores nothing
    with pytest.raises(ApplicationError):
        monitoring.hidden_gold_submit_many(
            answers=[(a, served[a.pk], exact), (b, served[b.pk], off), (c, served[c.pk], bad)]
        )
    assert not HiddenGoldExposure.objects.filter(answered_at__isnull=False).exists()
    with pytest.raises(ApplicationError):  # two answers of one rater in one call
        monitoring.hidden_gold_submit_many(answers=[(a, served[a.pk], exact), (a, served[a.pk], exact)])
    statuses = monitoring.hidden_gold_submit_many(answers=[(a, served[a.pk], exact), (b, served[b.pk], off)])
    assert statuses == {a.pk: "ok", b.pk: "ok"}  # fewer answers than the window's minimum
    errors = dict(HiddenGoldExposure.objects.filter(rater__in=[a, b]).values_list("rater_id", "abs_error"))
    expected_b = sum(abs(off[k] - v) for k, v in served[b.pk].gold_item.expert_mean.items()) / len(off)
    assert errors[a.pk] == pytest.approx(0.0, abs=1e-12) and errors[b.pk] == pytest.approx(expected_b)
    assert Enrollment.objects.get(user=b).monitor_mae == pytest.approx(expected_b)
    with pytest.raises(ConflictError):
        monitoring.hidden_gold_submit_many(answers=[(a, served[a.pk], exact)])
    # The single submit is the bulk path with one answer.
    assert contract.hidden_gold_submit(rater=c, image=served[c.pk], scores=exact) is None  # contract: None
    assert Enrollment.objects.get(user=c).monitor_mae is not None


def test_rolling_windows_of_many_raters_in_one_statement_suspend_only_the_drifting_one(
    make_user, admin_user, gold_items, monkeypatch
) -> None:
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    steady, drifting = _certified(make_user, admin_user, 2)
    for _ in range(12):
        served = monitoring.hidden_gold_pick_many(raters=[steady, drifting], share=0.05)
        answers = [(steady, served[steady.pk], dict(served[steady.pk].gold_item.expert_mean))]
        if drifting.pk in served:
            wrong = {k: 1.0 if v < 0.5 else 0.0 for k, v in served[drifting.pk].gold_item.expert_mean.items()}
            answers.append((drifting, served[drifting.pk], wrong))
        statuses = monitoring.hidden_gold_submit_many(answers=answers)
        assert statuses[steady.pk] == "ok"
    assert Enrollment.objects.get(user=steady).state == "certified"
    assert Enrollment.objects.get(user=drifting).state == "suspended"


def test_gold_bank_cache_sees_new_deactivated_and_edited_items(gold_items, django_assert_num_queries) -> None:
    standard = gold_items[0].standard
    bank = selectors.gold_bank(standard=standard)
    with django_assert_num_queries(1):  # unchanged: one aggregate statement
        assert selectors.gold_bank(standard=standard) is bank
    GoldItem.objects.filter(pk=gold_items[0].pk).update(is_active=False)  # no signal: the fingerprint sees it
    assert [it.pk for it in selectors.gold_bank(standard=standard).items] == [g.pk for g in gold_items[1:]]
    item = gold_items[1]
    item.expert_mean = {**item.expert_mean, "overall": 0.123}
    item.save()  # a save in this process clears the cache
    edited = selectors.gold_bank(standard=standard)
    assert edited.means[0, edited.keys.index("overall")] == pytest.approx(0.123)


def _cohort(enrolled, n: int) -> list:
    from annotation.qualification.services import exams

    cohort = [enrolled() for _ in range(n)]
    exams.training_start_many(enrollments=cohort)
    batches = exams.training_next_batches(enrollments=cohort, n=100)
    from .conftest import gold_scores

    exams.training_answer_cohort(answers=[(e, {a.pk: gold_scores(a) for a in batches[e.pk]}) for e in cohort])
    return cohort


def _sit(cohort: list, good: set[int]):
    from annotation.qualification.models import AttemptItem
    from annotation.qualification.services import exams

    from .conftest import gold_scores

    attempts = exams.exam_start_many(enrollments=cohort)
    forms: dict[int, list] = {a.pk: [] for a in attempts}
    for it in AttemptItem.objects.filter(attempt__in=attempts).select_related("gold_item"):  # one read
        forms[it.attempt_id].append(it)
    answers = []
    for e, a in zip(cohort, attempts, strict=True):
        answers.append(
            (
                e,
                a,
                {
                    it.position: gold_scores(it, noise=0.02, seed=it.position)
                    if e.pk in good
                    else gold_scores(it, constant=0.5)
                    for it in forms[a.pk]
                },
            )
        )
    return exams.attempts_submit_many(submissions=answers)


def test_cohort_exams_follow_the_single_rules_in_constant_statements(enrolled, gold_items) -> None:
    """exam_start_many / attempts_submit_many: the outcome of each volunteer is the single path's (pass →
    certified, fail → retraining on the flagged dimensions), every move is logged, and the statements do
    not grow with the cohort."""
    from annotation.qualification.models import Attempt, Retraining, Transition
    from annotation.qualification.services import exams

    small, large = _cohort(enrolled, 2), _cohort(enrolled, 6)
    counts = []
    for cohort in (small, large):
        good = {e.pk for e in cohort[::2]}
        submitted, n = _statements(lambda c=cohort, g=good: _sit(c, g))
        counts.append(n)
        for e, attempt in zip(cohort, submitted, strict=True):
            e.refresh_from_db()
            assert attempt.passed is (e.pk in good) and attempt.status == Attempt.Status.SUBMITTED
            assert e.state == ("certified" if e.pk in good else "retraining")
            log = list(Transition.objects.filter(enrollment=e).values_list("to_state", flat=True))
            assert log == ["invited", "training", "exam", e.state]
            if e.pk not in good:
                assert Retraining.objects.get(attempt=attempt).focus_dimensions
    assert counts[0] == counts[1]
    # All or nothing: one volunteer who may not start (retraining not done) refuses the whole cohort.
    retraining = [e for e in large if e.state == "retraining"]
    fresh = _cohort(enrolled, 1)
    before = Attempt.objects.count()
    with pytest.raises(ConflictError) as refused:
        exams.exam_start_many(enrollments=[*fresh, retraining[0]])
    assert refused.value.extra["code"] == "retraining_incomplete"
    assert Attempt.objects.count() == before
    assert Enrollment.objects.get(pk=fresh[0].pk).state == "training"
