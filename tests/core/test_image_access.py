"""Image access by need, per role, for the image list, detail, file and thumbnail URLs: admins everything;
researchers released images only (never gold); volunteers the image they hold a lease on (pool or hidden
gold), their own uploads and the qualification items they are being shown. Everything else answers like a
missing image (the same 404 body), so a sha256 reveals nothing. Also: every /api/ error is JSON."""

from __future__ import annotations

import pytest

from annotation.models import Image, Standard
from annotation.services.images import image_ingest
from tests.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db

NOT_FOUND = {"message": "No such image.", "extra": {}}


@pytest.fixture
def images(make_user, admin_user):
    from annotation.qualification.services.gold import gold_item_upsert
    from annotation.scoring.models import PoolItem
    from annotation.standards.humanbeauty import DIMENSION_KEYS
    from curation.models import Release, ReleaseMember

    def ingest(seed: int, provenance: str, **kw):
        return image_ingest(data=jpeg_bytes(40, 40, seed=seed), provenance=provenance, **kw)[0]

    standard = Standard.objects.get(key="humanbeauty-v1")
    uploader = make_user("volunteer", username="uploader")
    out = {
        "released": ingest(1, "public"),
        "unreleased": ingest(2, "public"),
        "pool": ingest(3, "collected"),
        "gold": ingest(4, "gold"),
        "released_gold": ingest(5, "gold"),
        "own": ingest(6, "collected", uploaded_by=uploader),
        "building": ingest(7, "public"),
    }
    PoolItem.objects.create(image=out["pool"], standard=standard, target=5)
    for key in ("gold", "released_gold"):
        gold_item_upsert(image=out[key], standard=standard, mean=dict.fromkeys(DIMENSION_KEYS, 0.5))
    published = Release.objects.create(
        version="1.0.0", status="published", split_salt="s", release_sha256="a" * 64
    )
    building = Release.objects.create(version="1.1.0", status="building", split_salt="s")
    for release, key in ((published, "released"), (published, "released_gold"), (building, "building")):
        ReleaseMember.objects.create(
            release=release, image=out[key], part="50K", split="train", source="x", mos=0.5
        )
    out["uploader"] = uploader
    return out


def _file_status(client, image: Image) -> set[int]:
    statuses = set()
    for variant in ("file", "thumb"):
        r = client.get(f"/api/images/{image.sha256}/{variant}/")
        if r.status_code == 404:
            assert r.json() == NOT_FOUND
        statuses.add(r.status_code)
    return statuses


def test_admin_sees_everything(client_for, images) -> None:
    client = client_for("admin")
    listed = {row["sha256"] for row in client.get("/api/images/?limit=100").json()["results"]}
    for key, image in images.items():
        if key == "uploader":
            continue
        assert image.sha256 in listed
        assert _file_status(client, image) == {200}
        assert client.get(f"/api/images/{image.sha256}/").status_code == 200


def test_researcher_sees_released_images_only_and_never_gold(client_for, images) -> None:
    client = client_for("researcher")
    listed = {row["sha256"] for row in client.get("/api/images/?limit=100").json()["results"]}
    assert listed == {images["released"].sha256}
    assert _file_status(client, images["released"]) == {200}
    assert client.get(f"/api/images/{images['released'].sha256}/").status_code == 200
    for key in ("unreleased", "pool", "gold", "released_gold", "own", "building"):
        assert _file_status(client, images[key]) == {404}, key
        assert client.get(f"/api/images/{images[key].sha256}/").json() == NOT_FOUND


def test_volunteer_sees_its_lease_its_uploads_and_its_qualification_items(
    client_for, images, admin_user, monkeypatch
) -> None:
    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.qualification.models import Enrollment, GoldItem
    from annotation.qualification.services import exams, monitoring
    from annotation.qualification.services.protocols import (
        enrollment_invite_user,
        protocol_create,
        round_open,
    )
    from annotation.scoring.services.queue import lease_skip, next_image

    uploader = images["uploader"]
    client = client_for(None, user=uploader)
    assert client.get("/api/images/").status_code == 403
    assert _file_status(client, images["own"]) == {200}
    for key in ("released", "unreleased", "pool", "gold", "released_gold", "building"):
        assert _file_status(client, images[key]) == {404}, key

    # a scoring lease opens exactly the leased image, pool or hidden gold, until it ends
    volunteer_certify_by_admin(user=uploader, admin=admin_user, reason="test")
    rater = uploader
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)
    item = next_image(rater=rater)
    assert item.image.sha256 == images["pool"].sha256
    assert _file_status(client, images["pool"]) == {200}
    lease_skip(rater=rater)
    assert _file_status(client, images["pool"]) == {404}

    # qualification: the training item being answered and the items of an open exam, nothing else
    standard = Standard.objects.get(key="humanbeauty-v1")
    for i in range(12):
        from annotation.qualification.services.gold import gold_item_upsert
        from annotation.standards.humanbeauty import DIMENSION_KEYS

        extra = image_ingest(data=jpeg_bytes(40, 40, seed=50 + i), provenance="gold")[0]
        gold_item_upsert(image=extra, standard=standard, mean=dict.fromkeys(DIMENSION_KEYS, 0.5))
    protocol = protocol_create(
        standard=standard, created_by=admin_user, name="p", n_training=2, n_scored=3, n_warmup=0
    )
    round_open(protocol=protocol, actor=admin_user)
    trainee = enrollment_invite_user(user=client_for("volunteer").user, protocol=protocol)
    trainee_client = client_for(None, user=trainee.user)
    exams.training_start(enrollment=trainee)
    shown = exams.training_next(enrollment=trainee)
    shown_image = shown.gold_item.image
    assert _file_status(trainee_client, shown_image) == {200}
    others = GoldItem.objects.exclude(pk=shown.gold_item_id)
    assert all(_file_status(trainee_client, g.image) == {404} for g in others[:5])
    exams.training_answer(enrollment=trainee, answer_id=shown.pk, scores=dict.fromkeys(DIMENSION_KEYS, 0.5))
    assert _file_status(trainee_client, shown_image) == {404}
    while (nxt := exams.training_next(enrollment=trainee)) is not None:
        exams.training_answer(enrollment=trainee, answer_id=nxt.pk, scores=dict.fromkeys(DIMENSION_KEYS, 0.5))
    attempt = exams.exam_start(enrollment=Enrollment.objects.get(pk=trainee.pk))
    exam_images = [it.gold_item.image for it in attempt.items.select_related("gold_item__image")]
    assert exam_images and all(_file_status(trainee_client, im) == {200} for im in exam_images)


def test_api_errors_are_json_even_outside_views(client_for, monkeypatch) -> None:
    client = client_for("volunteer")
    missing = client.get("/api/no-such-route/")
    assert missing.status_code == 404
    assert missing.json() == {"message": "No API endpoint at /api/no-such-route/.", "extra": {}}
    from annotation.scoring import selectors

    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "rater_session_progress", crash)
    crashed = client.get("/api/scoring/session/")
    assert crashed.status_code == 500 and crashed["Content-Type"] == "application/json"
    assert set(crashed.json()) == {"message", "extra"} and "boom" not in crashed.content.decode()
