"""Training on a real Celery worker tree (gpu queue) is SIGKILLed mid stage one; a fresh worker's jobs
watchdog takes the job over and training continues from its last checkpoint (not from step 0) to a ready,
registered version."""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection

from annotation.models import Job
from modeling.models import ModelVersion
from modeling.services.training import model_train_start, training_state_dir
from tests.curation_app.test_filter_worker_kill import (
    REDIS_URL,
    _redis_purge,
    _redis_up,
    run_until_finished,
    start_worker,
    stop,
)

from .conftest import TINY_CONFIG


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_training_restarts_from_its_last_checkpoint(
    settings, tmp_path, backbone_dir, release_dir
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    if not _redis_up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it (see README)")
    from celery import Celery

    job = model_train_start(
        version="killed",
        release_dir=str(release_dir),
        backbone_path=str(backbone_dir),
        config={**TINY_CONFIG, "epochs": 4},
        checkpoint_every=1,
        enqueue=False,
    )
    sender = Celery(broker=REDIS_URL, set_as_current=False)
    _redis_purge()

    worker = start_worker(settings, "train1", queues="default,gpu", beat_dir=tmp_path)
    try:
        sender.send_task("modeling.train", args=[job.pk], queue="gpu")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status == Job.Status.RUNNING and job.done >= 3:  # 3 optimiser steps checkpointed
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"training did not reach step 3 within 240 s: {job.status}\n" + stop(worker))
    finally:
        out = stop(worker, signal.SIGKILL)
    job.refresh_from_db()
    killed_at = job.done
    total_steps = job.total - TINY_CONFIG["metavoter_epochs"] - 1
    assert job.status == Job.Status.RUNNING and 3 <= killed_at < total_steps, (job.message, out[-2000:])
    assert (training_state_dir("killed") / "stage1-state.pt").is_file()

    # Nobody resumes it: a fresh worker alone must bring the job to its end.
    out = run_until_finished(
        settings, job, "train2", beat_dir=tmp_path, queues="default,gpu", within_s=420, poll_s=0.3
    )
    assert job.status == Job.Status.SUCCEEDED, (job.error, out[-3000:])
    assert job.attempts == 1
    assert killed_at <= job.result["resumed_from_step"] < total_steps  # from the last checkpoint, not 0
    mv = ModelVersion.objects.get(version="killed")
    assert mv.status == ModelVersion.Status.READY and mv.training["stage_one_steps"] == total_steps
    assert not training_state_dir("killed").exists()  # restart state removed once the version is ready
