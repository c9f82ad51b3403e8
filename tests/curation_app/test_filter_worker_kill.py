"""A real Celery worker tree on Redis (prefork main process, its child, embedded beat) runs the filter job;
the whole process group is SIGKILLed mid-job, so the chunk it held stays unacknowledged in Redis (the
visibility timeout is minutes away). A fresh worker starts; nobody calls resume: its beat's jobs watchdog
sees the job's heartbeat go stale, re-dispatches what is missing, and the job ends with exactly one
FaceDetection per image (nothing lost, nothing doubled)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from PIL import Image as PILImage

from annotation.models import Job
from curation.models import FaceDetection, SourceItem
from curation.services.filtering import filter_start
from curation.services.sources import source_import, source_register

from .conftest import demo_photos

REDIS_URL = os.environ.get("HB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Fast watchdog for the test worker: heartbeat every second, stale after 6 s, checked every second.
WATCHDOG_ENV = {"HB_JOB_HEARTBEAT_SECONDS": "1", "HB_JOB_STALE_AFTER": "6", "HB_JOB_WATCHDOG_INTERVAL": "1"}
ROOT = Path(__file__).resolve().parents[2]
N_IMAGES = 48


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


def _redis_purge() -> None:
    """The test's own Redis db (HB_TEST_REDIS_URL): drop the killed worker's unacknowledged messages."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def worker_env(settings) -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT,
        "HB_RELEASES_ROOT": settings.RELEASES_ROOT,
        "HB_MODELS_ROOT": settings.MODELS_ROOT,
        **WATCHDOG_ENV,
    }


def start_worker(settings, name: str, *, queues: str, beat_dir: Path) -> subprocess.Popen:
    """A prefork worker (main process + one child) with an embedded beat: a whole process tree."""
    cmd = [sys.executable, "-m", "celery", "-A", "humanbeauty", "worker", "-Q", queues, "-c", "1"]
    cmd += [
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]
    cmd += ["-B", "-s", str(beat_dir / f"beat-{name}"), "-n", f"{name}-{os.getpid()}@%h"]
    env = worker_env(settings)
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, sig)
    try:
        out, _ = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        out, _ = worker.communicate()
    return out.decode(errors="replace")


def run_until_finished(
    settings, job: Job, name: str, *, beat_dir: Path, queues: str, within_s: float, poll_s: float = 0.2
) -> str:
    """Start a fresh worker, wait until ``job`` finishes (failing the test after ``within_s``), stop the
    worker and purge the broker; returns the worker's output for assertion messages."""
    worker = start_worker(settings, name, queues=queues, beat_dir=beat_dir)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(poll_s)
        else:
            pytest.fail(
                f"job {job.pk} did not finish within {within_s:.0f} s on worker {name}: {job.message}"
            )
    finally:
        out = stop(worker)
        _redis_purge()
    return out


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
    _redis_purge()

    worker = start_worker(settings, "kill1", queues="default,cpu", beat_dir=tmp_path)
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
            pytest.fail("the worker did not start the job within 90 s:\n" + stop(worker))
    finally:
        out = stop(worker, signal.SIGKILL)  # the whole tree, mid-job: no warm shutdown, no acks, no nack
    killed_at = FaceDetection.objects.filter(job=job).count()
    job.refresh_from_db()
    assert 0 < killed_at < N_IMAGES, (killed_at, out[-2000:])
    assert job.status == Job.Status.RUNNING and job.done == killed_at and job.total == N_IMAGES
    assert job.attempts == 0

    # Nobody resumes it: a fresh worker alone must bring the job to its end.
    out = run_until_finished(settings, job, "kill2", beat_dir=tmp_path, queues="default,cpu", within_s=240)
    assert job.status == Job.Status.SUCCEEDED, (job.error, out[-3000:])
    # Either path brings the lost chunks back, whichever comes first: the watchdog re-dispatches the stale
    # job once, or the broker hands the dead worker's unacknowledged chunk messages to the new worker. The
    # watchdog alone is pinned by tests/core/test_job_recovery.py; here what matters is the outcome below.
    assert job.attempts in (0, 1), job.attempts
    assert (job.done, job.total) == (N_IMAGES, N_IMAGES)
    dets = FaceDetection.objects.filter(image__source_items__source=source)
    assert dets.count() == N_IMAGES  # nothing lost, nothing doubled
    assert not dets.values("image_id", "detector_version").annotate(c=Count("id")).filter(c__gt=1).exists()
    assert set(dets.values_list("job_id", flat=True)) == {job.pk}
    assert dets.filter(kept=True).count() == N_IMAGES  # the astronaut is one clear face in each
    assert SourceItem.objects.filter(source=source, score__isnull=False).count() == N_IMAGES


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_resume_after_a_kill_through_the_api(settings, tmp_path, client_for, monkeypatch) -> None:
    """The admin path: a job left running by a dead worker is resumed with ``POST /api/jobs/<id>/resume/``
    (its heartbeat is stale) and finishes on a fresh worker; resuming it again is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    if not _redis_up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it (see README)")
    from annotation.services.jobs import job_start

    source = source_register(
        key="api_src", importer="scut_fbp5500", root=str(_scut_folder(tmp_path / "s", 8))
    )
    source_import(source=source)
    job = filter_start(source_keys=["api_src"], chunk_size=4, enqueue=False)
    job_start(job_id=job.pk, total=8)  # as a worker that died right after starting it left it
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    from celery import Celery

    from curation.tasks import filter_run_task

    sender = Celery(broker=REDIS_URL, set_as_current=False)
    _redis_purge()
    # The resume hook queues curation.filter_run on commit: send it to the worker's Redis, not eagerly.
    monkeypatch.setattr(
        filter_run_task,
        "apply_async",
        lambda args, **kw: sender.send_task(filter_run_task.name, args=args, queue="cpu"),
    )
    admin = client_for("admin")
    response = admin.post(f"/api/jobs/{job.pk}/resume/")
    assert response.status_code == 200 and response.json()["status"] == "pending", response.content
    out = run_until_finished(settings, job, "api", beat_dir=tmp_path, queues="default,cpu", within_s=120)
    assert job.status == Job.Status.SUCCEEDED, (job.status, job.error, out[-3000:])
    assert FaceDetection.objects.filter(job=job).count() == 8
    again = admin.post(f"/api/jobs/{job.pk}/resume/")
    assert again.status_code == 409 and "already succeeded" in again.json()["message"]
