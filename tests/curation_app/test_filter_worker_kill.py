"""A real Celery worker on Redis runs the filter job; it is SIGKILLed mid-job; the job resumes on a fresh
worker and ends with exactly one FaceDetection per image (nothing lost, nothing doubled)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.db.models import Count
from PIL import Image as PILImage

from annotation.models import Job
from curation.models import FaceDetection, SourceItem
from curation.services.filtering import filter_resume, filter_start
from curation.services.sources import source_import, source_register

from .conftest import demo_photos

REDIS_URL = os.environ.get("HB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]
N_IMAGES = 48


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


def _start_worker(settings, name: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    cmd = [sys.executable, "-m", "celery", "-A", "humanbeauty", "worker", "-Q", "default,cpu", "-c", "1"]
    cmd += ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    cmd += ["-n", f"{name}-{os.getpid()}@%h"]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, sig)
    try:
        out, _ = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        out, _ = worker.communicate()
    return out.decode(errors="replace")


def _scut_folder(root: Path, n: int) -> Path:
    """n distinct 1024 px photographs (the detector then works ~4x longer per image than at 512 px)."""
    base = PILImage.open(io.BytesIO(demo_photos()["astronaut"][0])).convert("RGB").resize((1024, 1024))
    arr = np.asarray(base).copy()
    (root / "Images").mkdir(parents=True)
    (root / "train_test_files").mkdir()
    lines = []
    for i in range(n):
        a = arr.copy()
        a[:32, :32] = (i * 5) % 256  # unique corner blocks -> unique bytes and sha256
        a[:32, 32:64] = (i * 37) % 256
        PILImage.fromarray(a).save(root / "Images" / f"img{i:03d}.jpg", quality=85)
        lines.append(f"img{i:03d}.jpg {1 + (i % 40) / 10}")
    (root / "train_test_files" / "All_labels.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_worker_resumes_with_nothing_lost_or_doubled(settings, tmp_path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    if not _redis_up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it (see README)")
    from celery import Celery

    source = source_register(
        key="kill_src", importer="scut_fbp5500", root=str(_scut_folder(tmp_path / "s", N_IMAGES))
    )
    assert source_import(source=source)["created"] == N_IMAGES
    job = filter_start(source_keys=["kill_src"], chunk_size=4, enqueue=False)
    sender = Celery(broker=REDIS_URL, set_as_current=False)  # never replace the eager app for later tests

    worker = _start_worker(settings, "kill1")
    out = ""
    try:
        sender.send_task("curation.filter_run", args=[job.pk], queue="cpu")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            n = FaceDetection.objects.filter(job=job).count()
            if n >= 8:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker did not start the job within 90 s:\n" + _stop(worker))
    finally:
        out = _stop(worker, signal.SIGKILL)  # mid-job: no warm shutdown, no acks
    killed_at = FaceDetection.objects.filter(job=job).count()
    job.refresh_from_db()
    assert 0 < killed_at < N_IMAGES, (killed_at, out[-2000:])
    assert job.status == Job.Status.RUNNING and job.done == killed_at and job.total == N_IMAGES

    filter_resume(job=job, enqueue=False)
    worker = _start_worker(settings, "kill2")
    try:
        sender.send_task("curation.filter_run", args=[job.pk], queue="cpu")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the resumed job did not finish within 120 s")
    finally:
        out = _stop(worker)
    assert job.status == Job.Status.SUCCEEDED, (job.error, out[-3000:])
    assert (job.done, job.total) == (N_IMAGES, N_IMAGES)
    dets = FaceDetection.objects.filter(image__source_items__source=source)
    assert dets.count() == N_IMAGES  # nothing lost, nothing doubled
    assert not dets.values("image_id", "detector_version").annotate(c=Count("id")).filter(c__gt=1).exists()
    assert dets.filter(kept=True).count() == N_IMAGES  # the astronaut is one clear face in each
    assert SourceItem.objects.filter(source=source, score__isnull=False).count() == N_IMAGES
