"""Benchmark: a RetinaFace filter job on a real Celery worker tree, with and without the whole tree being
SIGKILLed a third of the way through.

Images: the ``bench_filter.py`` folder (``--copies`` x the ``bench_detector.py`` set, 512x512 JPEGs),
imported into a scratch PostgreSQL database (``hb_bench_kill``, created and dropped here); not timed.

Timed, one worker (prefork ``-c 1`` with an embedded beat, queues default+cpu, on Redis ``--redis``):

* **plain**: from sending ``curation.filter_run`` to the job's ``succeeded`` (worker already warm);
* **killed**: the same on a fresh job, but when a third of the images are stored the worker's whole process
  group gets SIGKILL and a new worker is started at once (what a supervisor's restart policy does); nobody
  resumes the job: the new worker's beat runs the jobs watchdog, which re-dispatches the missing chunks once
  the heartbeat is ``--stale`` seconds old. Reported: the total, and its parts (kill → watchdog re-dispatch,
  re-dispatch → done). The unacknowledged chunk of the killed worker stays in Redis until the visibility
  timeout and is a no-op when it comes back (its images are done).

    .venv/bin/python bench/bench_worker_kill.py [--copies 5] [--lfw 20] [--chunk 16] [--stale 30]
        [--redis redis://127.0.0.1:6379/14]   # a Redis db of its own: it is flushed
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _scratch import PG_BASE, drop_pg, setup_django  # noqa: E402
from bench_filter import write_folder  # noqa: E402

DB_NAME = "hb_bench_kill"


def start_worker(work: Path, name: str, redis_url: str, stale: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG_BASE}/{DB_NAME}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "HB_JOB_HEARTBEAT_SECONDS": str(max(1.0, stale / 6)),
        "HB_JOB_STALE_AFTER": str(stale),
        "HB_JOB_WATCHDOG_INTERVAL": str(max(1.0, stale / 6)),
    }
    cmd = [sys.executable, "-m", "celery", "-A", "humanbeauty", "worker", "-Q", "default,cpu", "-c", "1"]
    cmd += [
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]
    cmd += ["-B", "-s", str(work / f"beat-{name}"), "-n", f"{name}@%h"]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, sig)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--lfw", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--stale", type=float, default=30.0, help="HB_JOB_STALE_AFTER of the workers (s)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds to let a fresh worker start")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_kill_"))
    setup_django(work, False, DB_NAME)
    import redis
    from celery import Celery

    from annotation.models import Job
    from curation.models import FaceDetection
    from curation.services.filtering import filter_start
    from curation.services.sources import source_import, source_register

    write_folder(work / "scut", args.lfw, args.copies)
    source = source_register(key="scut_fbp5500", importer="scut_fbp5500", root=str(work / "scut"))
    n = source_import(source=source)["created"]
    print(f"setup: {n} images, chunks of {args.chunk}, stale after {args.stale:.0f} s (not timed)")
    redis.Redis.from_url(args.redis).flushdb()
    sender = Celery(broker=args.redis, set_as_current=False)

    def wait_done(job: Job) -> float:
        while True:
            job.refresh_from_db()
            if job.is_finished:
                assert job.status == Job.Status.SUCCEEDED, job.error
                return time.perf_counter()
            time.sleep(0.05)

    worker = start_worker(work, "plain", args.redis, args.stale)
    try:
        time.sleep(args.warmup)
        job = filter_start(source_keys=["scut_fbp5500"], chunk_size=args.chunk, enqueue=False)
        t0 = time.perf_counter()
        sender.send_task("curation.filter_run", args=[job.pk], queue="cpu")
        plain = wait_done(job) - t0
    finally:
        stop(worker)
    assert FaceDetection.objects.count() == n
    FaceDetection.objects.all().delete()

    worker = start_worker(work, "killed1", args.redis, args.stale)
    time.sleep(args.warmup)
    job = filter_start(source_keys=["scut_fbp5500"], chunk_size=args.chunk, enqueue=False)
    t0 = time.perf_counter()
    sender.send_task("curation.filter_run", args=[job.pk], queue="cpu")
    while FaceDetection.objects.count() < n // 3:
        time.sleep(0.02)
    stop(worker, signal.SIGKILL)
    t_kill = time.perf_counter()
    at_kill = FaceDetection.objects.count()
    worker = start_worker(work, "killed2", args.redis, args.stale)
    try:
        while not Job.objects.filter(pk=job.pk, attempts__gte=1).exists():
            time.sleep(0.05)
        t_redispatch = time.perf_counter()
        t_done = wait_done(job)
    finally:
        stop(worker)
        redis.Redis.from_url(args.redis).flushdb()
    dets = FaceDetection.objects.count()
    assert dets == n and job.done == n, (dets, job.done)
    print(f"plain job, warm worker:        {plain:6.1f} s  ({n / plain:.1f} images/s)")
    print(
        f"job with a whole-tree kill:    {t_done - t0:6.1f} s  (killed at {at_kill}/{n} after {t_kill - t0:.1f} s; "
        f"watchdog re-dispatch {t_redispatch - t_kill:.1f} s after the kill, queued chunks ran meanwhile; then {t_done - t_redispatch:.1f} s "
        f"to finish); every image stored exactly once: {dets} rows, attempts {job.attempts}"
    )
    print(
        f"cost of the kill: +{t_done - t0 - plain:.1f} s (restart + stale threshold {args.stale:.0f} s + lost chunk)"
    )
    drop_pg(DB_NAME)


if __name__ == "__main__":
    main()
