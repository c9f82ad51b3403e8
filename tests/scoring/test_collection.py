"""Collection: campaigns, uploads, the automatic checks (decode, resolution, duplicates, RetinaFace), review."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data as skdata

from annotation.scoring.models import PoolItem, Submission
from annotation.scoring.services.collection import campaign_create
from tests.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def astronaut() -> bytes:
    return _jpeg(skdata.astronaut())


def nonhuman() -> bytes:
    return _jpeg(skdata.coffee())


def collage() -> bytes:
    a = skdata.astronaut()
    return _jpeg(np.concatenate([np.concatenate([a, a], axis=1), np.concatenate([a, a], axis=1)], axis=0))


@pytest.fixture
def campaign(admin_user, rater):
    return campaign_create(
        created_by=admin_user,
        volunteers=[rater],
        name="Street portraits",
        principles="Whole body visible\nOne main person",
        target_count=10,
    )


def _upload(
    client,
    campaign,
    payload: bytes,
    *,
    attestation: bool = True,
    url: str = "https://example.org/a.jpg",
    capture=None,
):
    body = {"file": io.BytesIO(payload), "source_url": url, "attestation": "true" if attestation else "false"}
    body["file"].name = "upload.jpg"
    with capture(execute=True):
        return client.post(f"/api/scoring/campaigns/{campaign.pk}/submissions/", body, format="multipart")


def _checks(sub: dict) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in sub["checks"]}


def test_photo_with_a_face_passes_then_approval_enters_the_pool(
    client_for, rater, admin_user, campaign, django_capture_on_commit_callbacks
) -> None:
    client = client_for(None, user=rater)
    resp = _upload(client, campaign, astronaut(), capture=django_capture_on_commit_callbacks)
    assert resp.status_code == 201, resp.content
    sub = client.get(f"/api/scoring/submissions/{resp.json()['id']}/").json()
    assert sub["status"] == "passed", sub["checks"]
    assert all(_checks(sub).values()) and len(_checks(sub)) == 7
    assert sub["faces"] and len(sub["faces"][0]["box"]) == 4
    admin = client_for(None, user=admin_user)
    assert (
        admin.post(f"/api/scoring/submissions/{sub['id']}/review/", {"decision": "reject"}).status_code == 400
    )
    ok = admin.post(f"/api/scoring/submissions/{sub['id']}/review/", {"decision": "approve", "reason": ""})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    item = PoolItem.objects.get()
    assert item.image_id == sub["image"] and item.target == campaign.ratings_target
    # the collector never gets their own image
    from annotation.scoring.services.queue import next_image

    assert next_image(rater=rater) is None


def test_nonhuman_fails_no_face(client_for, rater, campaign, django_capture_on_commit_callbacks) -> None:
    resp = _upload(
        client_for(None, user=rater), campaign, nonhuman(), capture=django_capture_on_commit_callbacks
    )
    sub = Submission.objects.get(pk=resp.json()["id"])
    assert sub.status == "failed" and sub.image is None
    checks = {c["name"]: c for c in sub.checks}
    assert not checks["face_present"]["passed"] and "no face" in checks["face_present"]["reason"]


def test_collage_fails_dominant_subject(
    client_for, rater, campaign, django_capture_on_commit_callbacks
) -> None:
    resp = _upload(
        client_for(None, user=rater), campaign, collage(), capture=django_capture_on_commit_callbacks
    )
    sub = Submission.objects.get(pk=resp.json()["id"])
    checks = {c["name"]: c for c in sub.checks}
    assert sub.status == "failed"
    assert checks["face_present"]["passed"] and not checks["single_dominant_subject"]["passed"]


def test_small_corrupt_and_duplicates(
    client_for, rater, campaign, django_capture_on_commit_callbacks
) -> None:
    client = client_for(None, user=rater)
    cap = django_capture_on_commit_callbacks
    small = Submission.objects.get(
        pk=_upload(client, campaign, jpeg_bytes(120, 90), capture=cap).json()["id"]
    )
    assert {c["name"]: c["passed"] for c in small.checks}["min_resolution"] is False
    # A truncated JPEG passes the cheap checks (its header is fine) and fails the full decode on the
    # worker; the bytes that do not decode are not kept.
    truncated = astronaut()[:5000]
    corrupt = Submission.objects.get(pk=_upload(client, campaign, truncated, capture=cap).json()["id"])
    assert (
        corrupt.status == "failed"
        and corrupt.checks[0]["name"] == "decodes"
        and not corrupt.checks[0]["passed"]
    )
    assert corrupt.upload.name == "" and _stored_files("submissions") == [small.upload.name]
    first = _upload(client, campaign, astronaut(), capture=cap).json()
    assert first["status"] in ("passed", "checking")
    exact = Submission.objects.get(pk=_upload(client, campaign, astronaut(), capture=cap).json()["id"])
    assert {c["name"]: c["passed"] for c in exact.checks}["not_duplicate"] is False
    # re-encoded at another quality: different bytes, same picture → near-duplicate
    buf = io.BytesIO()
    PILImage.fromarray(skdata.astronaut()).save(buf, format="JPEG", quality=70)
    near = Submission.objects.get(pk=_upload(client, campaign, buf.getvalue(), capture=cap).json()["id"])
    verdicts = {c["name"]: c for c in near.checks}
    assert verdicts["not_duplicate"]["passed"] and not verdicts["not_near_duplicate"]["passed"]


def _stored_files(prefix: str) -> list[str]:
    from django.conf import settings

    root = Path(settings.MEDIA_ROOT) / prefix
    return sorted(str(p.relative_to(settings.MEDIA_ROOT)) for p in root.rglob("*") if p.is_file())


def _png_bomb() -> bytes:
    """A few hundred bytes whose PNG header declares 30000×30000 pixels."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><script>alert(1)</script></svg>'


def _gif() -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (400, 400)).save(buf, format="GIF")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"just some text, named photo.jpg", 400, "not_an_image"),
        (SVG, 400, "not_an_image"),
        (_png_bomb(), 400, "too_many_pixels"),
        (_gif(), 400, "format"),
    ],
    ids=["text-as-jpg", "svg", "png-bomb", "gif"],
)
def test_bad_files_are_refused_before_anything_is_stored(
    client_for, rater, campaign, django_capture_on_commit_callbacks, data, status, code
) -> None:
    response = _upload(
        client_for(None, user=rater), campaign, data, capture=django_capture_on_commit_callbacks
    )
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "extra"} and body["extra"]["code"] == code
    assert body["message"].startswith("file: ")
    assert Submission.objects.count() == 0
    assert _stored_files("submissions") == []


def test_oversized_file_is_413_and_not_stored(
    client_for, rater, campaign, django_capture_on_commit_callbacks, settings
) -> None:
    settings.HB_IMAGE_MAX_BYTES = 50_000
    response = _upload(
        client_for(None, user=rater), campaign, astronaut(), capture=django_capture_on_commit_callbacks
    )
    assert response.status_code == 413
    assert Submission.objects.count() == 0 and _stored_files("submissions") == []


def test_a_passed_submission_keeps_only_the_re_encoded_image(
    client_for, rater, campaign, django_capture_on_commit_callbacks
) -> None:
    payload = b"<html><script>alert(1)</script></html>PK\x05\x06" + b"\0" * 18
    polyglot = astronaut() + payload
    sub = Submission.objects.get(
        pk=_upload(
            client_for(None, user=rater), campaign, polyglot, capture=django_capture_on_commit_callbacks
        ).json()["id"]
    )
    assert sub.status == "passed", sub.checks
    assert _stored_files("submissions") == []  # the raw upload is gone
    assert sub.upload.name == sub.image.file.name
    with sub.image.file.open("rb") as fh:
        stored = fh.read()
    assert b"<script>" not in stored and not stored.endswith(payload)
    assert stored.endswith(b"\xff\xd9")


def test_upload_needs_attestation_and_assignment(
    client_for, rater, make_rater, campaign, django_capture_on_commit_callbacks
) -> None:
    cap = django_capture_on_commit_callbacks
    resp = _upload(client_for(None, user=rater), campaign, astronaut(), attestation=False, capture=cap)
    assert resp.status_code == 400 and "attestation" in resp.json()["message"]
    other = client_for(None, user=make_rater())
    assert _upload(other, campaign, astronaut(), capture=cap).status_code == 404
    assert Submission.objects.count() == 0


def test_submitters_see_only_their_own(
    client_for, rater, make_rater, campaign, admin_user, django_capture_on_commit_callbacks
) -> None:
    _upload(client_for(None, user=rater), campaign, nonhuman(), capture=django_capture_on_commit_callbacks)
    assert len(client_for(None, user=rater).get("/api/scoring/submissions/").json()) == 1
    assert client_for(None, user=make_rater()).get("/api/scoring/submissions/").json() == []
    assert len(client_for(None, user=admin_user).get("/api/scoring/submissions/?status=failed").json()) == 1
