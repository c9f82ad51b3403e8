"""Jobs survive workers: the watchdog takes over stale jobs, resume/cancel through API, command and page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotation.models import Job
from annotation.services import jobs as jobs_service
from annotation.services.jobs import (
    JobInterrupted,
    job_create,
    job_kind_register,
    job_resume,
    job_running,
    jobs_watchdog,
)

pytestmark = pytest.mark.django_db

KIND = "test.chunked"


@pytest.fixture
def resumable_kind(monkeypatch):
    """A registered resumable kind whose resume hook records the jobs it was asked to queue."""
    calls: list[int] = []
    monkeypatch.setattr(jobs_service, "_KINDS", dict(jobs_service._KINDS))
    job_kind_register(KIND, resume=lambda job: calls.append(job.pk))
    return calls


def _running(kind: str, *, seconds_ago: float, attempts: int = 0) -> Job:
    job = job_create(kind=kind, total=10)
    at = timezone.now() - timedelta(seconds=seconds_ago)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, started_at=at, heartbeat_at=at, attempts=attempts
    )
    return Job.objects.get(pk=job.pk)


def test_watchdog_resumes_stale_chunked_jobs_and_leaves_live_ones(resumable_kind, settings) -> None:
    settings.HB_JOB_STALE_AFTER = 60
    settings.HB_JOB_MAX_REDISPATCH = 2
    stale, live = _running(KIND, seconds_ago=120), _running(KIND, seconds_ago=5)
    report = jobs_watchdog()
    assert report == {"resumed": [stale.pk], "failed": []} and resumable_kind == [stale.pk]
    stale.refresh_from_db()
    assert stale.status == Job.Status.PENDING and stale.attempts == 1 and "worker lost" in stale.message
    live.refresh_from_db()
    assert live.status == Job.Status.RUNNING and live.attempts == 0
    assert jobs_watchdog() == {"resumed": [], "failed": []}  # pending again: nothing to do


def test_watchdog_fails_a_job_whose_work_is_gone(resumable_kind, settings) -> None:
    settings.HB_JOB_STALE_AFTER = 60
    settings.HB_JOB_MAX_REDISPATCH = 2
    exhausted = _running(KIND, seconds_ago=120, attempts=2)
    not_resumable = _running("thumbnails", seconds_ago=120)
    report = jobs_watchdog()
    assert sorted(report["failed"]) == sorted([exhausted.pk, not_resumable.pk]) and not resumable_kind
    for job in (exhausted, not_resumable):
        job.refresh_from_db()
        assert job.status == Job.Status.FAILED and job.error.startswith("work is gone")
    assert "after 2 re-dispatches" in Job.objects.get(pk=exhausted.pk).error
    assert "cannot resume" in Job.objects.get(pk=not_resumable.pk).error


def test_report_stops_a_body_that_was_cancelled_or_taken_over() -> None:
    job = job_create(kind=KIND)
    with pytest.raises(JobInterrupted), job_running(job_id=job.pk, total=3) as report:
        report(1)
        Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED)
        report(2)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.done == 1  # not failed, not overwritten
    other = job_create(kind=KIND)
    with pytest.raises(JobInterrupted), job_running(job_id=other.pk, total=3) as report:
        Job.objects.filter(pk=other.pk).update(attempts=1)  # the watchdog gave it to another worker
        report(1)


def test_resume_rules(resumable_kind, settings) -> None:
    settings.HB_JOB_STALE_AFTER = 60
    live = _running(KIND, seconds_ago=1)
    with pytest.raises(jobs_service.ConflictError, match="is running"):
        job_resume(job=live)
    job_resume(job=live, force=True)
    done = job_create(kind=KIND)
    Job.objects.filter(pk=done.pk).update(status=Job.Status.SUCCEEDED)
    done.refresh_from_db()
    with pytest.raises(jobs_service.ConflictError, match="already succeeded"):
        job_resume(job=done)
    with pytest.raises(jobs_service.ApplicationError, match="cannot be resumed") as exc:
        job_resume(job=job_create(kind="thumbnails"))
    assert exc.value.status == 409 and KIND in exc.value.extra["resumable"]
    assert resumable_kind == [live.pk]


def test_resume_and_cancel_api_command_and_page(resumable_kind, client_for, make_user, client) -> None:
    admin = client_for("admin")
    job = _running(KIND, seconds_ago=10_000)
    body = admin.post(f"/api/jobs/{job.pk}/resume/").json()
    assert body["status"] == "pending" and body["resumable"] is True and resumable_kind == [job.pk]
    researcher = make_user("researcher")
    own = job_create(kind=KIND, created_by=researcher)
    refused = client_for(None, user=researcher).post(f"/api/jobs/{own.pk}/resume/")
    assert refused.status_code == 403 and set(refused.json()) == {"message", "extra"}
    gone = admin.post(f"/api/jobs/{job_create(kind='thumbnails').pk}/resume/")
    assert gone.status_code == 409 and "cannot be resumed" in gone.json()["message"]

    call_command("job_cancel", str(job.pk))
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    with pytest.raises(CommandError, match="already finished"):
        call_command("job_cancel", str(job.pk))
    call_command("job_resume", str(job.pk))
    assert Job.objects.get(pk=job.pk).status == Job.Status.PENDING and resumable_kind == [job.pk, job.pk]
    with pytest.raises(CommandError, match="cannot be resumed"):
        call_command("job_resume", str(job_create(kind="thumbnails").pk))

    client.force_login(admin.user)
    page = client.get("/jobs/").content.decode()
    assert f'action="/jobs/{job.pk}/cancel/"' in page
    client.post(f"/jobs/{job.pk}/cancel/")
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    assert f'action="/jobs/{job.pk}/resume/"' in client.get("/jobs/").content.decode()
    client.post(f"/jobs/{job.pk}/resume/")
    assert Job.objects.get(pk=job.pk).status == Job.Status.PENDING
    client.force_login(researcher)
    assert client.post(f"/jobs/{job.pk}/resume/").status_code == 403
    mine = client.get("/jobs/").content.decode()
    assert "/resume/" not in mine and f'data-job="{own.pk}"' in mine and f'data-job="{job.pk}"' not in mine
