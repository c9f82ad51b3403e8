"""A rater's own recent ratings and amending one within the window (the workspace's history)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import make_pool, valid_scores

pytestmark = pytest.mark.django_db


def _rate_one(client) -> dict:
    item = client.post("/api/scoring/next/").json()["item"]
    body = {"image": item["image"], "scores": valid_scores(1), "dwell_ms": 2000}
    assert client.post("/api/scoring/ratings/", body, format="json").status_code == 201
    return item


def test_history_lists_my_ratings_and_amend_changes_them_within_the_window(
    client_for, rater, make_rater, no_gold, settings
) -> None:
    from annotation.scoring.models import Rating

    settings.HB_SCORING_AMEND_WINDOW_S = 300
    make_pool(3, target=3)
    client = client_for(None, user=rater)
    item = _rate_one(client)
    mine = client.get("/api/scoring/ratings/mine/").json()
    assert [h["image"] for h in mine["items"]] == [item["image"]]
    entry = mine["items"][0]
    assert entry["amendable"] is True and entry["scores"]["overall"] == valid_scores(1)["overall"]
    assert mine["progress"]["session"] == 1 and mine["progress"]["total"] == 1
    assert mine["progress"]["amend_window_s"] == 300 and mine["progress"]["pool_total"] == 3

    changed = valid_scores(1) | {"overall": 0.11}
    r = client.patch(f"/api/scoring/ratings/{entry['id']}/", {"scores": changed}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["scores"]["overall"] == 0.11
    assert Rating.objects.get(pk=entry["id"]).scores[-1] == 0.11  # "overall" is last in the standard

    bad = client.patch(f"/api/scoring/ratings/{entry['id']}/", {"scores": {"overall": 3}}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"message", "extra"}
    assert Rating.objects.get(pk=entry["id"]).scores[-1] == 0.11  # nothing stored is lost

    other = client_for(None, user=make_rater())
    assert (
        other.patch(f"/api/scoring/ratings/{entry['id']}/", {"scores": changed}, format="json").status_code
        == 404
    )

    Rating.objects.filter(pk=entry["id"]).update(
        created_at=Rating.objects.get(pk=entry["id"]).created_at - timedelta(seconds=301)
    )
    closed = client.patch(f"/api/scoring/ratings/{entry['id']}/", {"scores": valid_scores(2)}, format="json")
    assert closed.status_code == 409 and "amendable_until" in closed.json()["extra"]
    assert client.get("/api/scoring/ratings/mine/").json()["items"][0]["amendable"] is False


def test_amending_a_completed_image_recomputes_its_aggregate(
    client_for, make_rater, no_gold, django_capture_on_commit_callbacks
) -> None:
    from annotation.scoring.models import ImageAggregate, Rating

    make_pool(1, target=2)
    clients = [client_for(None, user=make_rater()) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):  # completion runs after the commit, as a task
        items = [_rate_one(c) for c in clients]
    assert items[0]["image"] == items[1]["image"]
    before = ImageAggregate.objects.get(image_id=items[0]["image"]).mos[-1]
    rating = Rating.objects.filter(rater=clients[0].user).get()
    r = clients[0].patch(
        f"/api/scoring/ratings/{rating.pk}/", {"scores": valid_scores(1) | {"overall": 0.0}}, format="json"
    )
    assert r.status_code == 200
    after = ImageAggregate.objects.get(image_id=items[0]["image"]).mos[-1]
    assert after == pytest.approx((0.0 + valid_scores(1)["overall"]) / 2) and after != before


def test_session_count_is_the_run_of_ratings_without_a_long_gap(rater) -> None:
    from django.utils import timezone

    from annotation.scoring.history import rater_session_count
    from annotation.scoring.models import Rating

    pool = make_pool(4, target=3)
    now = timezone.now()
    for item, minutes_ago in zip(pool, [2, 20, 45, 200], strict=True):
        r = Rating.objects.create(
            pool_item=item, image=item.image, rater=rater, standard=item.standard, scores=[0.5] * 12
        )
        Rating.objects.filter(pk=r.pk).update(created_at=now - timedelta(minutes=minutes_ago))
    assert rater_session_count(rater=rater, now=now) == 3  # 2, 20, 45 min ago; then a 155-minute gap
    assert rater_session_count(rater=rater, now=now + timedelta(minutes=40)) == 0
