"""The contract used by the scoring app (annotation/qualification/contract.py)."""

from __future__ import annotations

import inspect
import random

import pytest

from annotation.qualification import contract
from annotation.qualification.models import Enrollment, HiddenGoldExposure, Transition
from annotation.qualification.services import monitoring

pytestmark = pytest.mark.django_db


def test_signatures_are_keyword_only() -> None:
    expected = {
        "rater_is_certified": ["rater"],
        "certified_raters": [],
        "volunteer_certify_by_admin": ["user", "admin", "reason"],
        "rater_gold_share": ["rater"],
        "hidden_gold_pick": ["rater", "share"],
        "hidden_gold_submit": ["rater", "image", "scores"],
        "hidden_gold_image_shas": ["rater"],
    }
    for name, params in expected.items():
        sig = inspect.signature(getattr(contract, name))
        assert list(sig.parameters) == params
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in sig.parameters.values())


def test_certify_by_admin_is_recorded_and_listed(make_user, admin_user) -> None:
    rater = make_user("volunteer")
    assert not contract.rater_is_certified(rater=rater)
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")
    assert contract.rater_is_certified(rater=rater)
    assert list(contract.certified_raters()) == [rater]
    log = list(
        Transition.objects.filter(enrollment__user=rater).values_list("from_state", "to_state", "actor")
    )
    assert log == [("", "invited", admin_user.pk), ("invited", "certified", admin_user.pk)]
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="again")  # idempotent
    assert Transition.objects.filter(enrollment__user=rater).count() == 2


def test_certify_by_admin_refuses_exited(make_user, admin_user) -> None:
    from annotation.qualification.services.states import volunteer_exit_by_admin
    from humanbeauty.errors import ConflictError

    rater = make_user("volunteer")
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="x")
    volunteer_exit_by_admin(user=rater, admin=admin_user, reason="left")
    with pytest.raises(ConflictError):
        contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="back")


def test_rater_gold_share_is_none_until_certified_then_the_protocol_share(
    make_user, admin_user, enrolled, django_assert_num_queries
) -> None:
    from annotation.qualification.models import Protocol

    rater = make_user("volunteer")
    assert contract.rater_gold_share(rater=rater) is None  # no enrollment
    enrollment = enrolled()
    assert contract.rater_gold_share(rater=enrollment.user) is None  # invited, not certified
    Protocol.objects.filter(pk=enrollment.protocol_id).update(hidden_gold_share=0.12)
    Enrollment.objects.filter(pk=enrollment.pk).update(state="certified")
    with django_assert_num_queries(1):
        assert contract.rater_gold_share(rater=enrollment.user) == pytest.approx(0.12)
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")  # no protocol
    assert contract.rater_gold_share(rater=rater) == pytest.approx(0.05)  # the default share
    Enrollment.objects.filter(pk=enrollment.pk).update(state="suspended")
    assert contract.rater_gold_share(rater=enrollment.user) is None


@pytest.mark.parametrize(
    ("protocol_share", "flagged", "expected"),
    [(0.12, False, 0.12), (0.12, True, 0.48), (0.2, True, 0.5), (0.7, True, 0.7), (0.0, True, 0.0)],
)
def test_raters_flagged_by_screening_get_more_hidden_gold(
    enrolled, django_assert_num_queries, protocol_share, flagged, expected
) -> None:
    """Hidden-gold follow-up of rater screening: while the latest re-aggregation flags a rater, their share is
    the protocol's times HB_GOLD_FOLLOW_UP_FACTOR (4), capped at 0.5 and never lowered; still one query."""
    from annotation.models import Standard
    from annotation.qualification.models import Protocol
    from annotation.scoring.models import RaterQuality

    enrollment = enrolled()
    Protocol.objects.filter(pk=enrollment.protocol_id).update(hidden_gold_share=protocol_share)
    Enrollment.objects.filter(pk=enrollment.pk).update(state="certified")
    RaterQuality.objects.create(
        rater=enrollment.user,
        standard=Standard.objects.get(key="humanbeauty-v1"),
        flagged=flagged,
        flags=["straight-lining: LOO SRCC 0.05 < 0.31"] if flagged else [],
    )
    with django_assert_num_queries(1):
        assert contract.rater_gold_share(rater=enrollment.user) == pytest.approx(expected)


def test_hidden_gold_pick_never_repeats_and_respects_share(
    make_user, admin_user, gold_items, monkeypatch
) -> None:
    rater = make_user("volunteer")
    assert contract.hidden_gold_pick(rater=rater) is None  # not certified
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)  # above 5 %: never gold
    assert contract.hidden_gold_pick(rater=rater) is None
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)  # below 5 %: gold
    shas = set()
    for _ in range(len(gold_items)):
        image = contract.hidden_gold_pick(rater=rater)
        assert image is not None and image.provenance == "gold"
        assert image.sha256 not in shas
        shas.add(image.sha256)
    assert contract.hidden_gold_pick(rater=rater) is None  # bank exhausted, never repeated
    assert set(contract.hidden_gold_image_shas(rater=rater)) == shas
    assert HiddenGoldExposure.objects.filter(rater=rater).count() == len(gold_items)


def test_hidden_gold_share_is_about_five_percent(make_user, admin_user, gold_items, monkeypatch) -> None:
    rater = make_user("volunteer")
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")
    # A seeded generator of this test's own (the module's shared one is left untouched for later tests).
    monkeypatch.setattr(monitoring, "_random", random.Random(1))
    picks = sum(contract.hidden_gold_pick(rater=rater) is not None for _ in range(400))
    assert 8 <= picks <= 30  # 5 % of 400 = 20 (the bank of 30 is not exhausted)


def test_hidden_gold_submit_warns_then_suspends(make_user, admin_user, gold_items, monkeypatch) -> None:
    rater = make_user("volunteer")
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    # Five accurate answers: ok.
    for _ in range(5):
        image = contract.hidden_gold_pick(rater=rater)
        gold = image.gold_item.expert_mean
        contract.hidden_gold_submit(rater=rater, image=image, scores=dict(gold))
    enrollment = Enrollment.objects.get(user=rater)
    assert enrollment.monitor_status == "ok" and enrollment.monitor_mae == pytest.approx(0.0, abs=1e-9)
    # Drifting answers (+0.45 everywhere, clipped): the rolling MAE over the last 10 goes past the limits.
    statuses = []
    for _ in range(10):
        image = contract.hidden_gold_pick(rater=rater)
        if image is None:
            break
        scores = {k: 1.0 if v < 0.5 else 0.0 for k, v in image.gold_item.expert_mean.items()}
        contract.hidden_gold_submit(rater=rater, image=image, scores=scores)
        enrollment.refresh_from_db()
        statuses.append((enrollment.monitor_status, enrollment.state))
        if enrollment.state == "suspended":
            break
    assert statuses[-1] == ("suspend", "suspended")
    errors = contract.hidden_gold_errors(rater_ids=[rater.pk, admin_user.pk])
    assert set(errors) == {rater.pk} and 0.0 < errors[rater.pk] < 1.0
    assert not contract.rater_is_certified(rater=rater)
    assert Transition.objects.filter(enrollment=enrollment, to_state="suspended").exists()


def test_hidden_gold_submit_twice_or_unknown_is_refused(
    make_user, admin_user, gold_items, monkeypatch
) -> None:
    from humanbeauty.errors import ApplicationError

    rater = make_user("volunteer")
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    image = contract.hidden_gold_pick(rater=rater)
    scores = dict.fromkeys(image.gold_item.expert_mean)
    scores["overall"] = 0.5
    contract.hidden_gold_submit(
        rater=rater, image=image, scores=scores
    )  # "can't judge" allowed per dimension
    with pytest.raises(ApplicationError):
        contract.hidden_gold_submit(rater=rater, image=image, scores=scores)
    # A gold image this rater was never shown is refused (whichever one the pick above landed on).
    exposed = set(HiddenGoldExposure.objects.filter(rater=rater).values_list("gold_item_id", flat=True))
    never_shown = next(g for g in gold_items if g.pk not in exposed)
    with pytest.raises(ApplicationError):
        contract.hidden_gold_submit(rater=rater, image=never_shown.image, scores=scores)
