"""Skipping gold costs: through the real queue, a rater who skips every hidden-gold item (and rates pool
items) is flagged by the monitoring tick, then suspended; an honest rater is not. Answers are scored and
the rolling gold error updated by the same tick, off the request path."""

from __future__ import annotations

import pytest

from annotation.qualification.models import Enrollment, HiddenGoldExposure, Transition
from annotation.qualification.services import monitoring
from annotation.scoring.services.gold_monitor import hidden_gold_monitor_run
from annotation.scoring.services.queue import lease_skip, next_image
from annotation.scoring.services.ratings import rating_submit

from .conftest import make_pool, valid_scores

pytestmark = pytest.mark.django_db


class Draws:
    """Gold on the calls listed (by index), pool otherwise."""

    def __init__(self, gold_calls: set[int]) -> None:
        self.calls, self.gold_calls = 0, gold_calls

    def __call__(self) -> float:
        self.calls += 1
        return 0.0 if self.calls - 1 in self.gold_calls else 0.999


def _work(rater, n: int, *, skip_gold: bool, skip_pool_every: int = 0) -> None:
    for i in range(n):
        item = next_image(rater=rater)
        assert item is not None
        if item.image.provenance == "gold":
            if skip_gold:
                lease_skip(rater=rater, reason="skip")
            else:
                rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores(i))
        elif skip_pool_every and i % skip_pool_every == 0:
            lease_skip(rater=rater)
        else:
            rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores(i))


def test_skipping_gold_is_flagged_then_suspended(make_rater, monkeypatch, client_for, admin_user) -> None:
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(12)
    make_pool(60, target=9)
    cheat, honest = make_rater("cheat"), make_rater("honest")
    monkeypatch.setattr(monitoring._random, "random", Draws({1, 4, 7, 10, 13, 16, 19, 22}))
    _work(cheat, 12, skip_gold=True)  # 4 gold served, all skipped; 8 pool rated
    monkeypatch.setattr(monitoring._random, "random", Draws({1, 4, 7, 10}))
    _work(honest, 12, skip_gold=False, skip_pool_every=5)
    result = hidden_gold_monitor_run()
    assert result["flagged"] == 1 and result["suspended"] == 0 and result["scored"] == 4
    cheat_enrollment = Enrollment.objects.get(user=cheat)
    assert cheat_enrollment.gold_skip_status == "flag" and cheat_enrollment.state == "certified"
    assert "skipped 4 of 4" in cheat_enrollment.gold_skip_reason
    assert (
        Transition.objects.filter(enrollment=cheat_enrollment, reason__contains="skipping flagged").count()
        == 1
    )
    honest_enrollment = Enrollment.objects.get(user=honest)
    assert honest_enrollment.gold_skip_status == "ok"
    assert HiddenGoldExposure.objects.filter(rater=honest, abs_error__isnull=False).count() == 4
    assert hidden_gold_monitor_run() == {"scored": 0, "flagged": 0, "suspended": 0}  # idempotent

    # the admin page shows it beside the rater-quality table
    from django.test import Client

    page = Client()
    page.force_login(admin_user)
    response = page.get("/scoring/raters/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cheat" in html and "skipped 4 of 4" in html

    # keeps skipping: suspended like a rater who fails gold
    monkeypatch.setattr(monitoring._random, "random", Draws({0, 2, 4}))
    _work(cheat, 5, skip_gold=True)
    assert hidden_gold_monitor_run()["suspended"] == 1
    cheat_enrollment.refresh_from_db()
    assert cheat_enrollment.state == "suspended" and cheat_enrollment.gold_skip_status == "suspend"
    with pytest.raises(Exception) as exc:
        next_image(rater=cheat)
    assert getattr(exc.value, "status", None) == 403


def test_an_item_still_held_is_pending_not_skipped(make_rater, monkeypatch) -> None:
    from annotation.scoring.selectors import rater_gold_skip_rows
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(3)
    make_pool(5)
    rater = make_rater("holder")
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    next_image(rater=rater)
    (row,) = rater_gold_skip_rows()
    assert (row.gold_served, row.gold_pending, row.gold_skipped, row.gold_answered) == (1, 1, 0, 0)
    lease_skip(rater=rater, reason="cant_judge")
    (row,) = rater_gold_skip_rows()
    assert (row.gold_served, row.gold_pending, row.gold_skipped) == (1, 0, 1)
