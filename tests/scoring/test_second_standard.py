"""A second standard (ArtiMuse's 8 attributes, seeded as data) end to end at the API: the queue serves its
images with its key, ratings are validated against its dimensions and required comments, images complete
and aggregate with its 8 dimensions, and the full re-aggregation runs for it."""

from __future__ import annotations

import pytest

from annotation.standards import artimuse

pytestmark = pytest.mark.django_db


def _artimuse():
    from annotation.models import Standard

    return Standard.objects.get(key=artimuse.KEY)


def _scores(value: float) -> dict[str, float]:
    return dict.fromkeys(artimuse.ATTRIBUTE_KEYS, value)


def _comments(text: str = "Strong diagonal; warm light on the subject.") -> dict[str, str]:
    return {k: f"{k}: {text}" for k in artimuse.ATTRIBUTE_KEYS}


def test_the_artimuse_standard_is_seeded_as_data(client_for) -> None:
    body = client_for("volunteer").get(f"/api/standards/{artimuse.KEY}/").json()
    assert [d["key"] for d in body["dimensions"]] == list(artimuse.ATTRIBUTE_KEYS)
    assert [d["name"] for d in body["dimensions"]] == [a[1] for a in artimuse.ATTRIBUTES]
    assert all(d["comment_required"] and d["asks_comment"] for d in body["dimensions"])
    assert {d["parent"] for d in body["dimensions"]} == {"comprehensive", None}
    assert body["min_ratings"] == artimuse.MIN_RATINGS


def test_a_second_standard_through_the_queue_and_aggregation(
    client_for, make_rater, admin_user, django_capture_on_commit_callbacks
) -> None:
    from annotation.scoring.models import ImageAggregate, PoolItem, Rating
    from annotation.scoring.services.aggregation import scoring_reaggregate
    from annotation.scoring.services.collection import campaign_create
    from tests.scoring.conftest import fake_images

    standard = _artimuse()
    campaign = campaign_create(
        created_by=admin_user, name="ArtiMuse pilot", principles="Any artwork", target_count=2,
        standard=standard, ratings_target=3, ratings_step=1, ratings_cap=3,
    )  # fmt: skip
    images = fake_images(2, prefix="art")
    PoolItem.objects.bulk_create(
        [PoolItem(image=i, standard=standard, target=3, campaign=campaign) for i in images]
    )
    raters = [client_for(None, user=make_rater()) for _ in range(3)]
    for n, client in enumerate(raters):
        for _ in images:
            item = client.post("/api/scoring/next/").json()["item"]
            assert item["standard"] == artimuse.KEY
            sha = item["image"]
            # The 12 HumanBeauty keys are refused: the item's standard decides.
            wrong = client.post(
                "/api/scoring/ratings/", {"image": sha, "scores": {"overall": 0.5}}, format="json"
            )
            assert wrong.status_code == 400 and "scores.overall" in wrong.json()["extra"]["fields"]
            # A comment is required for every scored attribute: a clear 400 naming the first missing one.
            partial = {k: v for k, v in _comments().items() if k != "technical"}
            missing = client.post(
                "/api/scoring/ratings/",
                {"image": sha, "scores": _scores(0.6), "comments": partial},
                format="json",
            )
            assert missing.status_code == 400, missing.json()
            assert missing.json()["extra"]["fields"] == {
                "comments.technical": ["A written comment is required for this attribute."]
            }
            blank = client.post(
                "/api/scoring/ratings/",
                {"image": sha, "scores": _scores(0.6), "comments": {**_comments(), "theme": "   "}},
                format="json",
            )
            assert blank.status_code == 400 and "comments.theme" in blank.json()["extra"]["fields"]
            # "Can't judge" an attribute: no comment needed for it.
            scores = {**_scores(0.4 + 0.1 * n), "originality": None}
            comments = {k: v for k, v in _comments().items() if k != "originality"}
            with django_capture_on_commit_callbacks(execute=True):
                ok = client.post(
                    "/api/scoring/ratings/",
                    {"image": sha, "scores": scores, "comments": comments},
                    format="json",
                )
            assert ok.status_code == 201, ok.json()
            assert list(ok.json()["scores"]) == list(artimuse.ATTRIBUTE_KEYS)
    assert raters[0].post("/api/scoring/next/").json()["item"] is None  # all done
    assert Rating.objects.filter(standard=standard).count() == 6
    rating = Rating.objects.filter(standard=standard).first()
    assert set(rating.comments) == set(artimuse.ATTRIBUTE_KEYS) - {"originality"}
    assert PoolItem.objects.filter(campaign=campaign, completed_at__isnull=False).count() == 2

    admin = client_for("admin")
    agg = admin.get(f"/api/scoring/images/{images[0].sha256}/aggregate/").json()
    assert agg["standard"] == artimuse.KEY and agg["n_ratings"] == 3
    assert [d["key"] for d in agg["dimensions"]] == list(artimuse.ATTRIBUTE_KEYS)
    by_key = {d["key"]: d for d in agg["dimensions"]}
    assert by_key["composition"]["mos"] == pytest.approx(0.5) and by_key["composition"]["n"] == 3
    assert by_key["originality"]["n"] == 0  # every rater said "can't judge" for it
    assert ImageAggregate.objects.filter(standard=standard).count() == 2

    run = scoring_reaggregate(standard=standard, workers=1)
    assert run.standard_id == standard.pk
    assert ImageAggregate.objects.get(image=images[0]).psi is not None

    # The admin pages follow the standard: rater quality of ArtiMuse on ?standard=, its re-aggregation
    # started from there; the progress page reads each item's overall at its own standard's position.
    from django.test import Client

    page = Client()
    page.force_login(admin_user)
    quality = page.get(f"/scoring/raters/?standard={artimuse.KEY}")
    assert quality.status_code == 200 and quality.context["standard"] == standard
    assert {r.rater.username for r in quality.context["rows"]} == {c.user.username for c in raters}
    assert quality.context["run"] == run
    default = page.get("/scoring/raters/")
    assert default.context["standard"].key != artimuse.KEY
    assert not {r.rater_id for r in default.context["rows"]} & {c.user.pk for c in raters}
    from annotation.models import Job

    jobs = Job.objects.count()
    unknown = page.post("/scoring/raters/", {"standard": "no-such-standard"}, follow=True)
    assert "No standard &#x27;no-such-standard&#x27;: nothing was re-aggregated." in unknown.content.decode()
    assert Job.objects.count() == jobs
    started = page.post("/scoring/raters/", {"standard": artimuse.KEY})
    assert started.status_code == 302 and started["Location"].endswith(f"?standard={artimuse.KEY}")
    assert Job.objects.count() == jobs + 1
    progress = page.get(f"/scoring/progress/?campaign={campaign.pk}")
    rows = progress.context["rows"]
    assert len(rows) == 2 and all(r["mos"] == pytest.approx(0.5) for r in rows)  # the comprehensive MOS


def test_amend_keeps_the_required_comments(
    client_for, make_rater, django_capture_on_commit_callbacks
) -> None:
    from annotation.scoring.models import PoolItem, Rating
    from tests.scoring.conftest import fake_images

    standard = _artimuse()
    (image,) = fake_images(1, prefix="art-amend")
    PoolItem.objects.create(image=image, standard=standard, target=3)
    client = client_for(None, user=make_rater())
    sha = client.post("/api/scoring/next/").json()["item"]["image"]
    r = client.post(
        "/api/scoring/ratings/",
        {"image": sha, "scores": _scores(0.5), "comments": _comments()},
        format="json",
    )
    assert r.status_code == 201
    rating = Rating.objects.get(image=image)
    changed = client.patch(f"/api/scoring/ratings/{rating.pk}/", {"scores": _scores(0.7)}, format="json")
    assert changed.status_code == 200, changed.json()
    rating.refresh_from_db()
    assert rating.scores[0] == 0.7 and rating.comments == _comments()


def test_the_campaign_page_creates_a_campaign_of_another_standard(client, make_user) -> None:
    from annotation.scoring.models import Campaign

    admin = make_user("admin")
    client.force_login(admin)
    page = client.get("/campaigns/").content.decode()
    assert f'value="{artimuse.KEY}"' in page and 'value="humanbeauty-v1" selected' in page
    form = {
        "name": "Artworks",
        "principles": "One artwork",
        "target_count": 10,
        "ratings_target": 3,
        "ratings_step": 1,
        "ratings_cap": 5,
        "max_ci_half_width": 0.15,
        "standard": artimuse.KEY,
    }
    r = client.post("/campaigns/", form)
    assert r.status_code == 302, r.content.decode()[:500]
    campaign = Campaign.objects.get(name="Artworks")
    assert campaign.standard.key == artimuse.KEY
    assert "ArtiMuse 8-attribute standard" in client.get(f"/campaigns/{campaign.pk}/").content.decode()
    # The standard's minimum still holds (3 for ArtiMuse; 9 for HumanBeauty).
    client.post("/campaigns/", {**form, "name": "Too few", "standard": "humanbeauty-v1"})
    assert not Campaign.objects.filter(name="Too few").exists()
