"""Job lifecycle: every long task in the platform reports its progress through these functions.

A task calls :func:`job_start`, then :func:`job_progress` as it goes, then :func:`job_succeed` or
:func:`job_fail`. Progress writes use ``update()`` on the row alone (no read-modify-write), so a worker
reporting progress never clobbers a concurrent cancel or another field.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.utils import timezone

from humanbeauty.errors import ApplicationError

from ..models import Job, User


def job_create(
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    created_by: User | None = None,
    total: int | None = None,
) -> Job:
    job = Job(kind=kind, params=params or {}, created_by=created_by, total=total)
    job.full_clean()
    job.save()
    return job


def job_enqueue(*, job: Job, task: Any, args: tuple = (), queue: str | None = None) -> None:
    """Send ``task`` (a Celery task whose first argument is the job id) once the transaction commits."""

    def send() -> None:
        options = {"queue": queue} if queue else {}
        result = task.apply_async(args=(job.pk, *args), **options)
        if result is not None and getattr(result, "id", None):
            Job.objects.filter(pk=job.pk, celery_task_id="").update(celery_task_id=result.id)

    transaction.on_commit(send)


def job_start(*, job_id: int, total: int | None = None, message: str = "") -> Job:
    now = timezone.now()
    fields: dict[str, Any] = {"status": Job.Status.RUNNING, "message": message, "error": ""}
    if total is not None:
        fields["total"] = total
    Job.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    Job.objects.filter(pk=job_id).update(**fields, finished_at=None)
    return Job.objects.get(pk=job_id)


def job_progress(*, job_id: int, done: int, total: int | None = None, message: str | None = None) -> None:
    fields: dict[str, Any] = {"done": done}
    if total is not None:
        fields["total"] = total
    if message is not None:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job_id).update(**fields)


def job_succeed(*, job_id: int, result: dict[str, Any] | None = None, message: str = "done") -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, result=result or {}, message=message[:500], finished_at=timezone.now()
    )


def job_fail(*, job_id: int, error: str, message: str = "failed") -> None:
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.FAILED, error=error, message=message[:500], finished_at=timezone.now()
    )


def job_cancel(*, job: Job) -> Job:
    if job.is_finished:
        raise ApplicationError(f"Job {job.pk} has already finished ({job.status}).", status=409)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def job_is_cancelled(*, job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists()


@contextmanager
def job_running(*, job_id: int, total: int | None = None, message: str = "") -> Iterator[Callable[..., None]]:
    """Run a job body: marks it running and yields a ``report(done, total=None, message=None)`` callback.

    If the body raises, the job is marked failed with the traceback and the exception propagates; on
    success the body itself calls :func:`job_succeed` with its result (after its outputs are committed).
    """
    job_start(job_id=job_id, total=total, message=message)

    def report(done: int, total: int | None = None, message: str | None = None) -> None:
        job_progress(job_id=job_id, done=done, total=total, message=message)

    try:
        yield report
    except Exception as exc:
        job_fail(
            job_id=job_id,
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"[:20000],
            message=f"failed: {exc}"[:500],
        )
        raise
