"""Jobs: lifecycle, failure recording, API polling, CLI progress."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Image, Job
from annotation.services.images import image_ingest
from annotation.services.jobs import job_create, job_enqueue, job_running, job_succeed
from annotation.tasks import images_thumbnails_rebuild_task
from tests.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db


def test_failed_job_records_why_and_is_not_complete() -> None:
    job = job_create(kind="test")
    with pytest.raises(RuntimeError), job_running(job_id=job.pk, total=10) as report:
        report(3, message="working")
        raise RuntimeError("disk full")
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "disk full" in job.error and job.finished_at is not None
    assert job.done == 3 and job.total == 10  # partial progress is visible, never 'succeeded'


def test_thumbnail_job_is_rerunnable_and_reports_progress(django_capture_on_commit_callbacks) -> None:
    images = [image_ingest(data=jpeg_bytes(seed=i), provenance="public")[0] for i in range(3)]
    Image.objects.filter(pk=images[0].pk).update(thumbnail="")
    job = job_create(kind="thumbnails")
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(job=job, task=images_thumbnails_rebuild_task)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result == {"checked": 3, "written": 1}
    assert (job.done, job.total) == (3, 3)
    again = job_create(kind="thumbnails")
    images_thumbnails_rebuild_task(again.pk)
    again.refresh_from_db()
    assert again.result["written"] == 0


def test_job_api_polling_and_visibility(client_for, make_user) -> None:
    owner = make_user("researcher")
    job = job_create(kind="x", created_by=owner, total=4)
    own = client_for(None, user=owner).get(f"/api/jobs/{job.pk}/")
    assert own.status_code == 200 and own.json()["total"] == 4
    other = client_for("researcher").get(f"/api/jobs/{job.pk}/")
    assert other.status_code == 404
    admin = client_for("admin").get(f"/api/jobs/{job.pk}/")
    assert admin.status_code == 200
    cancel = client_for(None, user=owner).post(f"/api/jobs/{job.pk}/cancel/")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    again = client_for(None, user=owner).post(f"/api/jobs/{job.pk}/cancel/")
    assert again.status_code == 409 and "already finished" in again.json()["message"]


def test_job_watch_command(capsys) -> None:
    job = job_create(kind="x", total=2)
    job_succeed(job_id=job.pk, result={"ok": 1})
    call_command("job_watch", str(job.pk))
    assert "succeeded" in capsys.readouterr().out
    failed = job_create(kind="y")
    from annotation.services.jobs import job_fail

    job_fail(job_id=failed.pk, error="boom")
    with pytest.raises(CommandError, match="boom"):
        call_command("job_watch", str(failed.pk))
