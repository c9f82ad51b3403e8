"""Celery tasks of the qualification app: thin, idempotent, one service each."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="qualification.recertification_tick", acks_late=True)
def recertification_tick_task() -> dict:
    from .services.monitoring import recertification_tick

    return recertification_tick()
