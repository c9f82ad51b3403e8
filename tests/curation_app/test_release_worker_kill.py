"""A release build on a real Celery worker tree is SIGKILLed while it writes the directory; a fresh worker's
jobs watchdog takes the job over and the release is published from the frozen members (frozen once: every
image exactly once, no partial directory left, the same hash as a rebuild)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from django.db import connection

from annotation.models import Job
from curation.models import Release, ReleaseMember
from curation.services.releases import release_create, release_dir, release_verify

from .conftest import SCUT_SCORES, write_scut
from .factories import collected_aggregates, public_source
from .test_filter_worker_kill import (
    REDIS_URL,
    _redis_purge,
    _redis_up,
    run_until_finished,
    start_worker,
    stop,
)

N_COLLECTED = 60


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_release_build_is_taken_over_and_published_once(settings, tmp_path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    if not _redis_up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it (see README)")
    from celery import Celery

    public_source(write_scut(tmp_path / "scut", SCUT_SCORES), kept={"astronaut.jpg", "grace-hopper.jpg"})
    collected_aggregates(N_COLLECTED)
    release = release_create(version="1.0.0", enqueue=False)
    job = Job.objects.get(pk=release.job_id)
    sender = Celery(broker=REDIS_URL, set_as_current=False)
    _redis_purge()

    worker = start_worker(settings, "rel1", queues="default,cpu", beat_dir=tmp_path)
    try:
        sender.send_task("curation.release_build", args=[job.pk, release.pk], queue="cpu")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status == Job.Status.RUNNING and job.done >= 10:  # frozen, now writing the directory
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the build did not reach the write within 120 s: {job.status}\n" + stop(worker))
    finally:
        out = stop(worker, signal.SIGKILL)
    release.refresh_from_db()
    job.refresh_from_db()
    assert release.status == Release.Status.BUILDING and job.status == Job.Status.RUNNING, (job.message, out)
    members = ReleaseMember.objects.filter(release=release)
    frozen = sorted(members.values_list("image_id", flat=True))
    assert len(frozen) == N_COLLECTED + 2

    # Nobody resumes it: a fresh worker alone must bring the job to its end.
    out = run_until_finished(settings, job, "rel2", beat_dir=tmp_path, queues="default,cpu", within_s=240)
    release.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and release.status == Release.Status.PUBLISHED, (
        job.error,
        release.error,
        out[-3000:],
    )
    assert job.attempts == 1  # the watchdog re-dispatched it once
    assert sorted(members.values_list("image_id", flat=True)) == frozen  # frozen once, nothing doubled
    root = release_dir(release=release)
    images = sorted(p.stem for p in (root / "images").iterdir())
    assert images == frozen  # every image exactly once in the directory
    assert not Path(str(root) + ".partial").exists()
    assert release_verify(release=release)["identical"]
