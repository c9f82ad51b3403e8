"""Per-level example images: only completed pool images with a MOS, never gold (any gold item, whatever its
provenance or state); suggestions ranked by closeness to the level's centre; the admin-only API and page
answer clear 4xx messages; volunteers may fetch chosen examples and see them on /score/."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from annotation.models import Dimension, Image, Standard
from annotation.qualification.models import GoldItem
from annotation.scoring.models import ImageAggregate, LevelExample, PoolItem
from annotation.scoring.selectors import level_example_suggestions, level_examples_by_dimension
from annotation.scoring.services.examples import MAX_PER_LEVEL, level_example_add, level_example_remove
from annotation.selectors import image_visible_to
from humanbeauty.errors import ApplicationError, ConflictError
from tests.scoring.conftest import make_pool

pytestmark = pytest.mark.django_db

API = "/api/scoring/examples/"


def _standard() -> Standard:
    return Standard.objects.get(key="humanbeauty-v1")


def _dimension(key: str | None = None) -> Dimension:
    qs = Dimension.objects.filter(standard__key="humanbeauty-v1")
    return qs.get(key=key) if key else qs.order_by("order").first()


def _complete(item: PoolItem, mos: float) -> PoolItem:
    """Mark a pool item complete with the same MOS on every dimension."""
    n = Dimension.objects.filter(standard=item.standard).count()
    PoolItem.objects.filter(pk=item.pk).update(completed_at=timezone.now())
    ImageAggregate.objects.update_or_create(
        image=item.image, defaults={"standard": item.standard, "n_ratings": 9, "mos": [mos] * n}
    )
    return item


def test_only_completed_pool_images_can_be_examples_and_volunteers_may_fetch_them(
    admin_user, volunteer
) -> None:
    done, open_ = make_pool(2, prefix="examples")
    _complete(done, 0.72)
    dim = _dimension()
    with pytest.raises(ApplicationError, match="scoring is complete"):
        level_example_add(dimension=dim, level="good", image=open_.image, chosen_by=admin_user)
    with pytest.raises(ApplicationError, match="level: one of"):
        level_example_add(dimension=dim, level="great", image=done.image, chosen_by=admin_user)
    assert not image_visible_to(user=volunteer, sha256=done.image_id)
    example = level_example_add(dimension=dim, level="good", image=done.image, chosen_by=admin_user)
    with pytest.raises(ConflictError, match="already an example"):
        level_example_add(dimension=dim, level="good", image=done.image, chosen_by=admin_user)
    assert image_visible_to(user=volunteer, sha256=done.image_id)
    assert not image_visible_to(user=volunteer, sha256=open_.image_id)
    assert level_examples_by_dimension(standard=_standard()) == {dim.key: {"good": [done.image_id]}}
    level_example_remove(example=example)
    assert not image_visible_to(user=volunteer, sha256=done.image_id)
    assert level_examples_by_dimension(standard=_standard()) == {}


def test_an_example_that_later_enters_the_gold_bank_is_no_longer_shown_or_served(
    admin_user, volunteer
) -> None:
    (item,) = make_pool(1, prefix="examples-later-gold")
    _complete(item, 0.5)
    level_example_add(dimension=_dimension(), level="fair", image=item.image, chosen_by=admin_user)
    assert image_visible_to(user=volunteer, sha256=item.image_id)
    GoldItem.objects.create(image=item.image, standard=_standard(), expert_mean={})
    assert level_examples_by_dimension(standard=_standard()) == {}
    assert not image_visible_to(user=volunteer, sha256=item.image_id)


def test_a_completed_image_without_a_mos_is_refused(admin_user) -> None:
    (item,) = make_pool(1, prefix="examples-nomos")
    PoolItem.objects.filter(pk=item.pk).update(completed_at=timezone.now())
    with pytest.raises(ApplicationError, match="no MOS"):
        level_example_add(dimension=_dimension(), level="fair", image=item.image, chosen_by=admin_user)


def test_gold_is_refused_and_a_level_holds_a_few_examples(admin_user) -> None:
    items = [_complete(i, 0.5) for i in make_pool(MAX_PER_LEVEL + 3, prefix="examples-cap")]
    dim = _dimension()
    for item in items[:MAX_PER_LEVEL]:
        level_example_add(dimension=dim, level="fair", image=item.image, chosen_by=admin_user)
    with pytest.raises(ConflictError, match=f"At most {MAX_PER_LEVEL}"):
        level_example_add(dimension=dim, level="fair", image=items[MAX_PER_LEVEL].image, chosen_by=admin_user)
    gold = items[-1].image
    Image.objects.filter(pk=gold.pk).update(provenance=Image.Provenance.GOLD)
    gold.refresh_from_db()
    with pytest.raises(ApplicationError, match="gold"):
        level_example_add(dimension=dim, level="bad", image=gold, chosen_by=admin_user)
    # A gold item on an image of another provenance (the demo's), even retired, is refused all the same:
    # re-importing the bank reactivates it and it may then be served as hidden gold.
    retired = items[-2].image
    GoldItem.objects.create(image=retired, standard=_standard(), expert_mean={}, is_active=False)
    with pytest.raises(ApplicationError, match="gold"):
        level_example_add(dimension=dim, level="bad", image=retired, chosen_by=admin_user)
    assert LevelExample.objects.count() == MAX_PER_LEVEL


def test_suggestions_rank_by_distance_to_the_level_centre_and_never_offer_gold(admin_user) -> None:
    mos = [0.05, 0.33, 0.29, 0.5, 0.27, 0.9]
    items = [_complete(item, m) for item, m in zip(make_pool(len(mos), prefix="sugg"), mos, strict=True)]
    make_pool(1, prefix="sugg-open")  # not complete: never suggested
    GoldItem.objects.create(image=items[4].image, standard=_standard(), expert_mean={})  # 0.27: gold
    dim = _dimension()
    rows = level_example_suggestions(dimension=dim, level="poor", limit=4)  # centre 0.30
    assert [r["image"] for r in rows] == [
        items[2].image_id,
        items[1].image_id,
        items[3].image_id,
        items[0].image_id,
    ]
    assert [round(r["distance"], 2) for r in rows] == [0.01, 0.03, 0.2, 0.25]
    assert [r["in_level"] for r in rows] == [True, True, False, False]
    level_example_add(dimension=dim, level="poor", image=items[2].image, chosen_by=admin_user)
    rows = level_example_suggestions(dimension=dim, level="poor", limit=1)
    assert [r["image"] for r in rows] == [items[1].image_id]  # a chosen image is not suggested again


def test_the_api_chooses_lists_suggests_and_removes(client, admin_user) -> None:
    item, other = (_complete(i, m) for i, m in zip(make_pool(2, prefix="api-ex"), (0.71, 0.12), strict=True))
    client.force_login(admin_user)
    body = {"dimension": "overall", "level": "good", "image": item.image_id}
    r = client.post(API, body, content_type="application/json")
    assert r.status_code == 201, r.json()
    created = r.json()
    assert created["dimension"] == "overall" and created["level"] == "good"
    assert created["mos"] == pytest.approx(0.71)
    assert created["thumb_url"] == f"/api/images/{item.image_id}/thumb/"
    assert client.post(API, body, content_type="application/json").status_code == 409
    assert [e["image"] for e in client.get(API).json()] == [item.image_id]
    r = client.get(API + "suggestions/", {"dimension": "overall", "level": "bad"})
    assert r.status_code == 200
    assert [s["image"] for s in r.json()][:2] == [other.image_id, item.image_id]
    assert client.delete(f"{API}{created['id']}/").status_code == 204
    assert client.delete(f"{API}{created['id']}/").status_code == 404
    assert client.get(API).json() == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"dimension": "charisma"}, "dimension", "Unknown dimension 'charisma'"),
        ({"level": "great"}, "level", "Unknown level great"),
        ({"image": "xyz"}, "image", "64 lowercase hex"),
        ({"image": "f" * 64}, "image", "No such image."),
        ({"standard": "nope"}, "standard", "Unknown standard"),
    ],
)
def test_the_api_names_the_bad_field(client, admin_user, change, field, message) -> None:
    (item,) = make_pool(1, prefix=f"bad-{field}")
    _complete(item, 0.5)
    client.force_login(admin_user)
    body = {"dimension": "overall", "level": "fair", "image": item.image_id, **change}
    r = client.post(API, body, content_type="application/json")
    assert r.status_code == 400
    assert message in " ".join(r.json()["extra"]["fields"][field])
    assert message in r.json()["message"]
    assert not LevelExample.objects.exists()


def test_the_api_refuses_gold_and_unfinished_images_with_a_reason(client, admin_user) -> None:
    done, open_ = make_pool(2, prefix="api-gold")
    _complete(done, 0.5)
    GoldItem.objects.create(image=done.image, standard=_standard(), expert_mean={})
    client.force_login(admin_user)
    for image, reason in ((done.image_id, "gold"), (open_.image_id, "scoring is complete")):
        r = client.post(
            API, {"dimension": "overall", "level": "fair", "image": image}, content_type="application/json"
        )
        assert r.status_code == 400 and reason in r.json()["message"], r.json()
        assert reason in r.json()["extra"]["fields"]["image"][0]
    # and a gold image is never among the suggestions
    r = client.get(API + "suggestions/", {"dimension": "overall", "level": "fair", "limit": 60})
    assert done.image_id not in {s["image"] for s in r.json()}


def test_the_admin_page_adds_removes_and_explains_refusals(client, admin_user) -> None:
    item, gold = (_complete(i, 0.9) for i in make_pool(2, prefix="page-ex"))
    GoldItem.objects.create(image=gold.image, standard=_standard(), expert_mean={})
    client.force_login(admin_user)
    page = client.get("/scoring/examples/?dimension=overall")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/api/images/{item.image_id}/thumb/" in html  # suggested, with its thumbnail
    assert gold.image_id not in html  # gold is never offered
    post = {"dimension": "overall", "level": "excellent", "image": item.image_id, "action": "add"}
    r = client.post("/scoring/examples/", post, follow=True)
    assert "Added an example of excellent" in r.content.decode()
    assert LevelExample.objects.filter(image=item.image, level="excellent").count() == 1
    r = client.post("/scoring/examples/", {**post, "image": gold.image_id}, follow=True)
    assert "never shown as examples" in r.content.decode()
    r = client.post("/scoring/examples/", {**post, "level": "superb"}, follow=True)
    assert "level: Unknown level superb" in r.content.decode()
    r = client.post("/scoring/examples/", {**post, "dimension": "charisma"}, follow=True)
    assert "dimension: Unknown dimension" in r.content.decode()
    example = LevelExample.objects.get()
    r = client.post(
        "/scoring/examples/", {"dimension": "overall", "example": example.pk, "action": "remove"}, follow=True
    )
    assert "Removed the example" in r.content.decode() and not LevelExample.objects.exists()


def test_volunteers_cannot_open_the_admin_page(client, volunteer) -> None:
    client.force_login(volunteer)
    assert client.get("/scoring/examples/").status_code == 403


def test_the_scoring_page_carries_the_chosen_examples_without_scores(client, admin_user, rater) -> None:
    (item,) = make_pool(1, prefix="score-ex")
    _complete(item, 0.31)
    level_example_add(dimension=_dimension("overall"), level="poor", image=item.image, chosen_by=admin_user)
    client.force_login(rater)
    page = client.get("/score/")
    html = page.content.decode()
    assert 'data-testid="level-examples"' in html
    data = json.loads(
        html.split('id="level-examples-data" type="application/json">', 1)[1].split("</script>")[0]
    )
    assert data == {
        "overall": {
            "poor": [
                {
                    "thumb_url": f"/api/images/{item.image_id}/thumb/",
                    "image_url": f"/api/images/{item.image_id}/file/",
                }
            ]
        }
    }
    assert "0.31" not in html  # the MOS itself is never shown to raters
