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


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_runs_thumbnail_job_over_redis(settings, tmp_path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    if not _redis_up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it (see README)")
    images = [image_ingest(data=jpeg_bytes(seed=i), provenance="public")[0] for i in range(2)]
    Image.objects.filter(pk=images[0].pk).update(thumbnail="")
    job = job_create(kind="thumbnails")

    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    worker = subprocess.Popen(
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
    try:
        from celery import Celery

        sender = Celery(broker=REDIS_URL, set_as_current=False)
        sender.send_task("annotation.images_thumbnails_rebuild", args=[job.pk], queue="default")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the worker did not finish the job within 60 s")
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert job.result == {"checked": 2, "written": 1}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            out, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            out, _ = worker.communicate()
        if job.status != Job.Status.SUCCEEDED:
            print(out.decode(errors="replace")[-4000:])
