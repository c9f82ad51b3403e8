"""A real Celery worker process on the Redis broker runs a task end to end (not eager)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from annotation.models import Image, Job
from annotation.services.images import image_ingest
from annotation.services.jobs import job_create
from tests.conftest import jpeg_bytes

REDIS_URL = os.environ.get("HB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


def _start_worker(settings) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "humanbeauty",
            "worker",
            "-Q",
            "default,cpu",
            "-c",
            "1",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _run_on_worker(settings, task: str, job: Job) -> None:
    """Start a real worker, send ``task`` for ``job`` over Redis, wait (60 s at most) until it finishes."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    if not _redis_up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it (see README)")
    worker = _start_worker(settings)
    try:
        from celery import Celery

        sender = Celery(broker=REDIS_URL, set_as_current=False)
        sender.send_task(task, args=[job.pk], queue="default")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the worker did not finish the job within 60 s")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            out, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            out, _ = worker.communicate()
        if job.status != Job.Status.SUCCEEDED:
            print(out.decode(errors="replace")[-4000:])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_runs_thumbnail_job_over_redis(settings, tmp_path) -> None:
    images = [image_ingest(data=jpeg_bytes(seed=i), provenance="public")[0] for i in range(2)]
    Image.objects.filter(pk=images[0].pk).update(thumbnail="")
    job = job_create(kind="thumbnails")
    _run_on_worker(settings, "annotation.images_thumbnails_rebuild", job)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result == {"checked": 2, "written": 1}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_big_upload_is_decoded_and_stored_by_a_worker_process(settings, monkeypatch, admin_user) -> None:
    """The web side parks the bytes (header read only); a separate worker process decodes, re-encodes,
    thumbnails and stores them, and deletes the parked file."""
    from django.core.files.storage import default_storage

    from annotation.services import images as images_service

    settings.HB_IMAGE_SYNC_MAX_PIXELS = 100
    monkeypatch.setattr(images_service, "job_enqueue", lambda **kwargs: None)  # sent below, to the worker
    outcome = images_service.image_upload(
        data=jpeg_bytes(96, 64, seed=31), provenance="public", source="w", uploaded_by=admin_user
    )
    assert outcome.job is not None and not Image.objects.exists()
    parked = outcome.job.params["upload"]
    assert default_storage.exists(parked)
    _run_on_worker(settings, "annotation.image_ingest", outcome.job)
    job = outcome.job
    assert job.status == Job.Status.SUCCEEDED, job.error
    image = Image.objects.get(sha256=job.result["sha256"])
    assert (image.width, image.height, image.source, image.uploaded_by_id) == (96, 64, "w", admin_user.pk)
    assert default_storage.exists(image.thumbnail.name) and not default_storage.exists(parked)
