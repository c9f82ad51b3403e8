"""Undo of a review decision: within the window and while nothing depends on it, else 409 with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from annotation.scoring.models import Lease, PoolItem, Submission
from annotation.scoring.services.collection import campaign_create
from annotation.scoring.services.queue import lease_skip, next_image
from annotation.scoring.services.ratings import rating_submit
from tests.scoring.conftest import fake_images, make_pool, valid_scores

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(admin_user, rater):
    return campaign_create(
        created_by=admin_user,
        volunteers=[rater],
        name="Undo",
        principles="x",
        target_count=5,
    )


def _submission(campaign, image=None) -> Submission:
    image = image or fake_images(1, prefix=f"undo-{Submission.objects.count()}")[0]
    sub = Submission(
        campaign=campaign,
        submitter=campaign.volunteers.first(),
        upload_sha256=image.sha256,
        image=image,
        source_url="https://example.org/a.jpg",
        attestation=True,
        status=Submission.Status.PASSED,
    )
    sub.upload.name = image.file.name
    sub.save()
    return sub


def _review(client, sub, decision="approve", reason=""):
    return client.post(
        f"/api/scoring/submissions/{sub.pk}/review/", {"decision": decision, "reason": reason}, format="json"
    )


def _undo(client, sub):
    return client.post(f"/api/scoring/submissions/{sub.pk}/review/undo/")


def test_undo_an_approval_takes_the_image_out_of_the_pool_and_it_waits_again(
    client_for, admin_user, campaign
) -> None:
    admin = client_for(None, user=admin_user)
    sub = _submission(campaign)
    assert _review(admin, sub).status_code == 200 and PoolItem.objects.filter(image=sub.image).exists()
    resp = _undo(admin, sub)
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "passed" and resp.json()["reviewer"] is None
    assert not PoolItem.objects.filter(image=sub.image).exists()
    sub.refresh_from_db()
    assert sub.reviewed_at is None and sub.review_reason == ""
    # the second decision is an ordinary one again; a second undo of an undone decision is refused
    assert _undo(admin, sub).status_code == 409
    assert _review(admin, sub, "reject", "Too small").json()["status"] == "rejected"
    assert _undo(admin, sub).json()["status"] == "passed"
    assert not PoolItem.objects.filter(image=sub.image).exists()


def test_undo_is_refused_once_a_rater_holds_rates_or_skips_the_image(
    client_for, admin_user, campaign, rater, no_gold
) -> None:
    admin = client_for(None, user=admin_user)
    sub = _submission(campaign)
    _review(admin, sub)
    assert next_image(rater=rater).image.pk == sub.image_id
    resp = _undo(admin, sub)
    assert resp.status_code == 409 and "a rater is scoring it right now" in resp.json()["message"]
    rating_submit(rater=rater, image_sha256=sub.image_id, scores=valid_scores())
    resp = _undo(admin, sub)
    assert resp.status_code == 409 and "already has 1 rating(s)" in resp.json()["message"]
    assert resp.json()["extra"]["status"] == "approved"
    assert PoolItem.objects.filter(image=sub.image).exists()
    sub.refresh_from_db()
    assert sub.status == Submission.Status.APPROVED


def test_undo_is_refused_once_a_rater_skipped_the_image(
    client_for, admin_user, campaign, make_rater, no_gold
) -> None:
    admin = client_for(None, user=admin_user)
    skipped = _submission(campaign)
    _review(admin, skipped)
    other = make_rater()
    assert next_image(rater=other).image.pk == skipped.image_id
    lease_skip(rater=other)
    assert not Lease.objects.filter(rater=other).exists()
    resp = _undo(admin, skipped)
    assert resp.status_code == 409 and "1 rater(s) already skipped it" in resp.json()["message"]


def test_undo_window_and_states(client_for, admin_user, campaign, settings) -> None:
    admin = client_for(None, user=admin_user)
    sub = _submission(campaign)
    assert _undo(admin, sub).status_code == 409  # nothing decided yet
    _review(admin, sub, "reject", "Watermark")
    Submission.objects.filter(pk=sub.pk).update(reviewed_at=sub.created_at - timedelta(minutes=11))
    resp = _undo(admin, sub)
    assert resp.status_code == 409 and "older than 10 minutes" in resp.json()["message"]
    settings.HB_REVIEW_UNDO_WINDOW_S = 3600
    assert _undo(admin, sub).status_code == 200
    assert (
        client_for(None, user=admin_user).post("/api/scoring/submissions/999999/review/undo/").status_code
        == 404
    )


def test_a_pool_item_that_was_there_before_the_approval_stays(client_for, admin_user, campaign) -> None:
    admin = client_for(None, user=admin_user)
    item = make_pool(1, prefix="already")[0]
    sub = _submission(campaign, image=item.image)
    _review(admin, sub)
    assert _undo(admin, sub).status_code == 200
    assert PoolItem.objects.filter(pk=item.pk).exists()


def test_review_page_offers_undo_on_the_latest_decision(client, admin_user, campaign) -> None:
    first, second = _submission(campaign), _submission(campaign)
    client.force_login(admin_user)
    client.post("/review/", {"submission": [first.pk], "decision": "approve"})
    client.post("/review/", {"submission": [second.pk], "decision": "reject", "reason": "Collage"})
    html = client.get("/review/").content.decode()
    assert html.count('name="undo"') == 3  # a button on each decided row, and one for the latest decision
    assert f'value="{second.pk}" class="secondary small" data-undo-latest' in html
    assert "<kbd>u</kbd> undoes the latest one" in html
    resp = client.post("/review/", {"undo": str(first.pk)}, follow=True)
    assert f"Submission #{first.pk}: decision undone" in resp.content.decode()
    assert not PoolItem.objects.filter(image=first.image).exists()
    Submission.objects.filter(pk=second.pk).update(reviewed_at=second.created_at - timedelta(hours=1))
    resp = client.post("/review/", {"undo": str(second.pk)}, follow=True)
    assert "older than 10 minutes" in resp.content.decode()
    assert 'name="undo"' not in client.get("/review/").content.decode()
