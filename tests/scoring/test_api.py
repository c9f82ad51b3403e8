"""The queue over HTTP: next → submit → next, errors as {message, extra}, gold responses identical."""

from __future__ import annotations

import pytest

from .conftest import make_pool, valid_scores

pytestmark = pytest.mark.django_db


def test_next_submit_roundtrip(client_for, rater, no_gold) -> None:
    make_pool(2, target=3)
    client = client_for(None, user=rater)
    item = client.post("/api/scoring/next/").json()["item"]
    assert set(item) == {
        "image",
        "image_url",
        "thumb_url",
        "width",
        "height",
        "standard",
        "expires_at",
        "lease_ttl_s",
    }
    assert "priority" not in str(item)
    assert client.post("/api/scoring/lease/heartbeat/").status_code == 200
    bad = client.post(
        "/api/scoring/ratings/", {"image": item["image"], "scores": {"overall": 2}}, format="json"
    )
    assert (
        bad.status_code == 400
        and set(bad.json()) == {"message", "extra"}
        and "scores." in bad.json()["message"]
    )
    body = {"image": item["image"], "scores": valid_scores(), "dwell_ms": 3000}
    first = client.post("/api/scoring/ratings/", body, format="json")
    assert first.status_code == 201
    again = client.post("/api/scoring/ratings/", body, format="json")
    assert again.status_code == 200 and again.json()["created_at"] == first.json()["created_at"]
    assert client.get("/api/scoring/session/").json()["rated_total"] == 1
    nxt = client.post("/api/scoring/next/").json()["item"]
    assert nxt["image"] != item["image"]
    assert (
        client.post(
            "/api/scoring/lease/skip/", {"reason": "report", "note": "not a person"}, format="json"
        ).status_code
        == 204
    )
    assert client.post("/api/scoring/next/").json() == {
        "item": None,
        "message": "Nothing left to score right now. Thank you!",
    }


def test_submit_with_next_returns_the_next_image_in_one_round_trip(client_for, rater, no_gold) -> None:
    from annotation.scoring.models import Lease, PoolItem, Rating

    make_pool(2, target=3)
    client = client_for(None, user=rater)
    first = client.post("/api/scoring/next/").json()["item"]
    body = {"image": first["image"], "scores": valid_scores(), "dwell_ms": 2000, "next": True}
    done = client.post("/api/scoring/ratings/", body, format="json")
    assert done.status_code == 201, done.content
    data = done.json()
    assert data["created"] and data["image"] == first["image"]
    second = data["next"]["item"]
    assert second is not None and second["image"] != first["image"] and data["next"]["message"] == ""
    assert set(second) == set(first)  # the same item shape as /next/
    assert Lease.objects.get(rater=rater).image_id == second["image"]
    # a double click: no second rating, and the next image is the one already leased, not another
    again = client.post("/api/scoring/ratings/", body, format="json")
    assert again.status_code == 200 and not again.json()["created"]
    assert again.json()["next"]["item"]["image"] == second["image"]
    assert Rating.objects.filter(rater=rater).count() == 1
    # without ``next`` the response has no ``next`` key (the plain submit is unchanged)
    plain = client.post(
        "/api/scoring/ratings/", {**body, "image": second["image"], "next": False}, format="json"
    )
    assert plain.status_code == 201 and "next" not in plain.json()
    # nothing left: ``next.item`` is null with the same message as /next/
    third = client.post("/api/scoring/next/").json()
    assert third["item"] is None
    PoolItem.objects.update(active=False)  # a fresh pool of one image: after it, nothing is left
    make_pool(1, target=1, prefix="last")
    last = client.post("/api/scoring/next/").json()["item"]
    final = client.post(
        "/api/scoring/ratings/",
        {"image": last["image"], "scores": valid_scores(), "next": True},
        format="json",
    ).json()
    assert final["next"] == {"item": None, "message": "Nothing left to score right now. Thank you!"}


def test_gold_and_normal_responses_have_the_same_shape(client_for, rater, monkeypatch) -> None:
    from annotation.qualification.services import monitoring
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(3)
    make_pool(1, target=3)
    client = client_for(None, user=rater)
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    gold = client.post("/api/scoring/next/").json()["item"]
    g_resp = client.post(
        "/api/scoring/ratings/", {"image": gold["image"], "scores": valid_scores()}, format="json"
    )
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)
    normal = client.post("/api/scoring/next/").json()["item"]
    n_resp = client.post(
        "/api/scoring/ratings/", {"image": normal["image"], "scores": valid_scores()}, format="json"
    )
    assert set(gold) == set(normal) and gold["standard"] == normal["standard"]
    assert gold["image_url"].replace(gold["image"], "X") == normal["image_url"].replace(normal["image"], "X")
    assert g_resp.status_code == n_resp.status_code == 201
    assert set(g_resp.json()) == set(n_resp.json())


def test_admin_endpoints(
    client_for, admin_user, make_rater, no_gold, django_capture_on_commit_callbacks
) -> None:
    from annotation.scoring.services.queue import next_image
    from annotation.scoring.services.ratings import rating_submit

    item = make_pool(1, target=2)[0]
    with django_capture_on_commit_callbacks(execute=True):  # completion runs after the commit
        for _ in range(2):
            r = make_rater()
            next_image(rater=r)
            rating_submit(rater=r, image_sha256=item.image_id, scores=valid_scores(value=0.6))
    admin = client_for(None, user=admin_user)
    prog = admin.get("/api/scoring/progress/").json()
    assert prog["complete"] == 1 and prog["histogram"] == [{"ratings": 2, "images": 1}]
    agg = admin.get(f"/api/scoring/images/{item.image_id}/aggregate/").json()
    assert (
        agg["n_ratings"] == 2
        and agg["dimensions"][11]["key"] == "overall"
        and agg["dimensions"][11]["mos"] == 0.6
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = admin.post("/api/scoring/reaggregate/", {}, format="json")
    assert job.status_code == 202
    assert admin.get("/api/scoring/reports/latest/").json()["n_ratings"] == 2
    assert len(admin.get("/api/scoring/rater-quality/").json()) == 2


@pytest.mark.parametrize("fmt", ["json", "multipart"])
def test_reaggregate_refuses_an_empty_standard(client_for, fmt) -> None:
    from annotation.models import Job

    response = client_for("admin").post("/api/scoring/reaggregate/", {"standard": ""}, format=fmt)
    assert response.status_code == 400, response.content
    assert "standard" in response.json()["extra"]["fields"]
    assert not Job.objects.filter(kind="scoring.reaggregate").exists()
