"""Celery tasks of the collection/scoring app: ids in, load, call one service; idempotent, enqueued on commit.

Names start with ``collection.`` or ``scoring.`` so the settings route them to the ``cpu`` queue.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="collection.submission_checks", acks_late=True, time_limit=600, soft_time_limit=570)
def submission_checks_task(job_id: int, submission_id: int) -> None:
    from .services.collection import submission_checks_run_job

    submission_checks_run_job(job_id=job_id, submission_id=submission_id)


@shared_task(name="scoring.reaggregate", acks_late=True, time_limit=3600, soft_time_limit=3540)
def reaggregate_task(job_id: int, standard_id: int) -> None:
    from .services.aggregation import scoring_reaggregate_job

    scoring_reaggregate_job(job_id=job_id, standard_id=standard_id)


@shared_task(name="scoring.leases_purge_expired")
def leases_purge_expired_task() -> int:
    """Beat housekeeping: expired leases no longer count towards capacity; this only deletes old rows."""
    from .services.queue import leases_purge_expired

    return leases_purge_expired()


@shared_task(name="scoring.hidden_gold_monitor")
def hidden_gold_monitor_task() -> dict:
    """Beat: score new hidden-gold answers, update rolling monitors and apply the gold-skip rule."""
    from .services.gold_monitor import hidden_gold_monitor_run

    return hidden_gold_monitor_run()


@shared_task(name="scoring.pool_item_complete", acks_late=True)
def pool_item_complete_task(pool_item_id: int) -> int | None:
    """An image reached its target: aggregates, then top-up or completion (enqueued on the submit's commit)."""
    from .services.ratings import pool_item_complete_by_id

    return pool_item_complete_by_id(pool_item_id=pool_item_id)
