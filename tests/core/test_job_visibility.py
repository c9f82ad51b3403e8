"""Researchers see the same jobs on the pages as in the API (their own), and only admins see tracebacks."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Job

pytestmark = pytest.mark.django_db

TRACEBACK = 'ValueError: bad file\n\nTraceback (most recent call last):\n  File "/app/secret/path.py", line 1'


@pytest.fixture
def jobs(make_user):
    admin, researcher = make_user("admin", username="boss"), make_user("researcher", username="res1")
    admins_job = Job.objects.create(
        kind="curation.filter", created_by=admin, status="failed", error=TRACEBACK
    )
    own_job = Job.objects.create(
        kind="modeling.predict", created_by=researcher, status="failed", error=TRACEBACK
    )
    return {"admin": admin, "researcher": researcher, "admins_job": admins_job, "own_job": own_job}


def _page(user, path: str) -> str:
    browser = Client()
    browser.force_login(user)
    response = browser.get(path)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("path", ["/jobs/", "/"])
def test_researcher_pages_show_own_jobs_without_tracebacks(jobs, path) -> None:
    html = _page(jobs["researcher"], path)
    assert f'data-job="{jobs["own_job"].pk}"' in html
    assert f'data-job="{jobs["admins_job"].pk}"' not in html
    assert "ValueError: bad file" in html and "Traceback" not in html and "/app/secret" not in html


def test_admin_page_shows_every_job_with_its_traceback(jobs) -> None:
    html = _page(jobs["admin"], "/jobs/")
    assert f'data-job="{jobs["own_job"].pk}"' in html and f'data-job="{jobs["admins_job"].pk}"' in html
    assert "Traceback (most recent call last)" in html


def test_the_api_agrees_with_the_pages(jobs, client_for) -> None:
    researcher = client_for(None, user=jobs["researcher"])
    listed = researcher.get("/api/jobs/").json()
    assert [j["id"] for j in listed] == [jobs["own_job"].pk]
    assert listed[0]["error"] == "ValueError: bad file"
    assert researcher.get(f"/api/jobs/{jobs['own_job'].pk}/").json()["error"] == "ValueError: bad file"
    admin = client_for(None, user=jobs["admin"])
    assert "Traceback" in admin.get(f"/api/jobs/{jobs['own_job'].pk}/").json()["error"]
