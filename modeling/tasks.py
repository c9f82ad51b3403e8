"""Celery tasks of the modeling app (all routed to the ``gpu`` queue by their ``modeling.`` prefix).

Each: id in, load, call one service. The services are idempotent (a ready version is not retrained,
pre-scoring inserts only missing predictions), so ``acks_late`` is safe for the short ones. Training and
evaluation run far longer than the broker's visibility timeout (sized to chunks, minutes), so they are
acknowledged on receipt; a worker lost mid-training is noticed by the jobs watchdog (heartbeat), which
queues the job again and training continues from its last checkpoint. A failed job is recorded on its
``Job`` row by the service; the task logs and does not retry (training and evaluation are deterministic,
a retry would fail the same way).
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="modeling.train", acks_late=False)
def model_train_task(job_id: int) -> None:
    from .services import model_train_run

    try:
        model_train_run(job_id=job_id)
    except Exception:  # the job row holds the error (or says it was cancelled / taken over)
        logger.exception("modeling.train job %s failed", job_id)


@shared_task(name="modeling.evaluate", acks_late=False)
def model_evaluate_task(job_id: int) -> None:
    from .services import model_evaluate_run

    try:
        model_evaluate_run(job_id=job_id)
    except Exception:
        logger.exception("modeling.evaluate job %s failed", job_id)


@shared_task(name="modeling.prescore_pending", acks_late=True)
def prescore_pending_task(job_id: int | None = None) -> None:
    """Every 5 minutes (beat, no job) and after an activation (with a job)."""
    from .services import prescore_pending

    try:
        prescore_pending(job_id=job_id)
    except Exception:
        logger.exception("modeling.prescore_pending (job %s) failed", job_id)


@shared_task(name="modeling.predict", acks_late=True)
def predict_task(job_id: int) -> None:
    """One uploaded image scored on a gpu worker (the predict page's queued path)."""
    from .services import predict_run

    try:
        predict_run(job_id=job_id)
    except Exception:
        logger.exception("modeling.predict job %s failed", job_id)
