"""A standard's minimum ratings per image binds every campaign on it (issue: releases that state only what
their data shows)."""

from __future__ import annotations

import pytest

from annotation.models import Standard
from annotation.scoring.services.collection import campaign_create, campaign_update
from humanbeauty.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_humanbeauty_standard_requires_nine() -> None:
    assert Standard.objects.get(key="humanbeauty-v1").min_ratings == 9


def test_campaign_cannot_go_below_the_minimum(admin_user) -> None:
    base = {"created_by": admin_user, "name": "c", "principles": "p", "target_count": 5}
    with pytest.raises(ApplicationError) as exc:
        campaign_create(**base, ratings_target=8, ratings_cap=15)
    assert exc.value.extra["min_ratings"] == 9 and "ratings_target" in exc.value.extra["fields"]
    campaign = campaign_create(**base, ratings_target=12, ratings_cap=15)  # admins may go above
    assert campaign.ratings_target == 12
    with pytest.raises(ApplicationError):
        campaign_update(campaign=campaign, ratings_target=5)
    campaign.refresh_from_db()
    assert campaign.ratings_target == 12  # nothing stored was lost


def test_api_answers_400_with_the_minimum(client_for) -> None:
    client = client_for("admin")
    resp = client.post(
        "/api/scoring/campaigns/",
        {"name": "c", "principles": "p", "target_count": 5, "ratings_target": 3},
        format="json",
    )
    assert resp.status_code == 400, resp.content
    assert "minimum of 9" in resp.json()["message"]
    ok = client.post(
        "/api/scoring/campaigns/", {"name": "c", "principles": "p", "target_count": 5}, format="json"
    )
    assert ok.status_code == 201 and ok.json()["ratings_target"] == 9 and ok.json()["min_ratings"] == 9
