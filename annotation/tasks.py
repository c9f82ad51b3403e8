"""Celery tasks of the core app: id in, load, call one service, idempotent."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="annotation.images_thumbnails_rebuild", acks_late=True)
def images_thumbnails_rebuild_task(job_id: int) -> None:
    from .services.maintenance import images_thumbnails_rebuild

    images_thumbnails_rebuild(job_id=job_id)


@shared_task(name="annotation.image_ingest", acks_late=True)
def image_ingest_task(job_id: int) -> None:
    """An uploaded image too big to decode in the web process: decode, re-encode, thumbnail, store."""
    from .services.images import image_ingest_run

    try:
        image_ingest_run(job_id=job_id)
    except Exception:  # recorded on the job by job_running
        logger.exception("annotation.image_ingest job %s failed", job_id)


@shared_task(name="annotation.jobs_watchdog", acks_late=True, ignore_result=True)
def jobs_watchdog_task() -> dict:
    """Beat, every ``HB_JOB_WATCHDOG_INTERVAL`` seconds: resume jobs whose worker was lost."""
    from .services.jobs import jobs_watchdog

    return jobs_watchdog()
