"""Celery tasks of the curation app: ids in, load, call one service. All names start with ``curation.``
so they route to the ``cpu`` queue. Every task is idempotent (it recomputes only missing outputs behind
unique constraints), hence ``acks_late``: a killed worker's message is redelivered and simply resumes.
Chunks are bounded by ``HB_CHUNK_TIME_LIMIT`` (the broker's visibility timeout is sized to it); the release
build is one long body, so it is acknowledged on receipt and the jobs watchdog resumes it instead."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

logger = logging.getLogger(__name__)


@shared_task(name="curation.source_import", acks_late=False)
def source_import_task(job_id: int) -> None:
    from .services.sources import source_import_run

    try:
        source_import_run(job_id=job_id)
    except Exception:  # the job row holds the error (job_running marked it failed)
        logger.exception("curation.source_import failed (job %s)", job_id)


@shared_task(name="curation.filter_run", acks_late=True)
def filter_run_task(job_id: int) -> dict:
    from .services.filtering import filter_dispatch

    return filter_dispatch(job_id=job_id)


@shared_task(
    name="curation.filter_chunk",
    acks_late=True,
    time_limit=settings.HB_CHUNK_TIME_LIMIT,
    soft_time_limit=settings.HB_CHUNK_TIME_LIMIT - 30,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def filter_chunk_task(job_id: int, image_ids: list[str]) -> dict:
    from .services.filtering import filter_chunk

    return filter_chunk(job_id=job_id, image_ids=image_ids)


@shared_task(name="curation.filter_finish", acks_late=True)
def filter_finish_task(job_id: int) -> bool:
    from .services.filtering import filter_finish

    return filter_finish(job_id=job_id)


@shared_task(name="curation.release_build", acks_late=False)
def release_build_task(job_id: int, release_id: int) -> None:
    from .services.releases import release_build

    try:
        release_build(release_id=release_id)
    except Exception:  # the release is marked failed and the job holds the traceback
        logger.exception("curation.release_build failed (job %s, release %s)", job_id, release_id)
