"""Job lifecycle: every long task in the platform reports its progress through these functions.

A task calls :func:`job_start`, then :func:`job_progress` as it goes, then :func:`job_succeed` or
:func:`job_fail`. Progress writes use ``update()`` on the row alone (no read-modify-write), so a worker
reporting progress never clobbers a concurrent cancel or another field.

Surviving a dead worker (design note)
-------------------------------------
Every write a running job makes (start, progress, the heartbeat thread of :func:`job_running`) stamps
``heartbeat_at``. A worker killed outright (the whole process tree, no chance to nack) stops stamping; its
unacknowledged chunk messages would only come back after the broker's visibility timeout. The periodic
:func:`jobs_watchdog` (celery beat, ``annotation.jobs_watchdog``) looks for *running* jobs whose heartbeat
is older than ``HB_JOB_STALE_AFTER`` seconds:

* a kind registered with :func:`job_kind_register` (the chunked, idempotent jobs: face filtering, release
  builds, training) is *resumed*: status back to ``pending``, ``attempts`` + 1, and its resume hook queues
  what is still missing (missing chunks, the release write, training from its last checkpoint);
* after ``HB_JOB_MAX_REDISPATCH`` such attempts, or at once for a kind that cannot resume, the job is
  failed with the reason (its work is gone). A live body never looks stale: :func:`job_running` keeps a
  heartbeat thread stamping the row while the body runs, whatever the body is doing.

Re-dispatching is safe because the registered kinds only compute what is missing (unique constraints,
checkpoints). A body that runs under :func:`job_running` remembers the ``attempts`` value it started with;
its ``report`` callback raises :class:`JobInterrupted` when the job was cancelled or re-dispatched in the
meantime, so a worker that was only slow stops instead of racing its successor.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from humanbeauty.errors import ApplicationError, ConflictError

from ..models import Job, User

logger = logging.getLogger(__name__)

_LIVE = (Job.Status.PENDING, Job.Status.RUNNING)


class JobInterrupted(Exception):
    """The job was cancelled, or re-dispatched to another worker, while this body was running it."""


@dataclass(frozen=True)
class JobKind:
    """How to resume (and clean up after) a chunked job kind. ``resume(job)`` queues, on commit, whatever
    the job still lacks; ``on_cancel(job)`` / ``on_fail(job, reason)`` mark the job's own outputs."""

    kind: str
    resume: Callable[[Job], None]
    on_cancel: Callable[[Job], None] | None = None
    on_fail: Callable[[Job, str], None] | None = None


_KINDS: dict[str, JobKind] = {}


def job_kind_register(
    kind: str,
    *,
    resume: Callable[[Job], None],
    on_cancel: Callable[[Job], None] | None = None,
    on_fail: Callable[[Job, str], None] | None = None,
) -> None:
    """Declare ``kind`` resumable (called from the owning app's ``AppConfig.ready``)."""
    _KINDS[kind] = JobKind(kind=kind, resume=resume, on_cancel=on_cancel, on_fail=on_fail)


def job_kind_get(kind: str) -> JobKind | None:
    return _KINDS.get(kind)


def job_is_resumable(job: Job) -> bool:
    return job.kind in _KINDS and job.status != Job.Status.SUCCEEDED


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
    """Mark the job running (a cancelled job stays cancelled)."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": Job.Status.RUNNING, "message": message, "error": ""}
    if total is not None:
        fields["total"] = total
    Job.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    Job.objects.exclude(status=Job.Status.CANCELLED).filter(pk=job_id).update(
        **fields, finished_at=None, heartbeat_at=now
    )
    return Job.objects.get(pk=job_id)


def job_progress(*, job_id: int, done: int, total: int | None = None, message: str | None = None) -> None:
    fields: dict[str, Any] = {"done": done, "heartbeat_at": timezone.now()}
    if total is not None:
        fields["total"] = total
    if message is not None:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job_id).update(**fields)


def job_succeed(*, job_id: int, result: dict[str, Any] | None = None, message: str = "done") -> None:
    Job.objects.exclude(status=Job.Status.CANCELLED).filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, result=result or {}, message=message[:500], finished_at=timezone.now()
    )


def job_fail(*, job_id: int, error: str, message: str = "failed") -> None:
    Job.objects.exclude(status=Job.Status.CANCELLED).filter(pk=job_id).update(
        status=Job.Status.FAILED, error=error, message=message[:500], finished_at=timezone.now()
    )


def job_cancel(*, job: Job) -> Job:
    """Cancel a job: running chunks and bodies stop at their next progress report; the kind's
    ``on_cancel`` hook marks its outputs (e.g. a release being built becomes failed)."""
    if job.is_finished:
        raise ConflictError(f"Job {job.pk} has already finished ({job.status}).")
    with transaction.atomic():
        won = Job.objects.filter(pk=job.pk, status__in=_LIVE).update(
            status=Job.Status.CANCELLED, finished_at=timezone.now(), message="cancelled"
        )
        job.refresh_from_db()
        kind = job_kind_get(job.kind)
        if won and kind is not None and kind.on_cancel is not None:
            kind.on_cancel(job)
    return job


def job_resume(*, job: Job, force: bool = False) -> Job:
    """Re-queue a chunked job (after a lost worker, a failure or a cancel): only what is missing is done.

    A running job whose heartbeat is fresh is refused (409) unless ``force``: its worker is alive.
    """
    kind = job_kind_get(job.kind)
    if kind is None:
        raise ApplicationError(
            f"Job {job.pk} ({job.kind}) cannot be resumed; start a new one.",
            extra={"kind": job.kind, "resumable": sorted(_KINDS)},
            status=409,
        )
    if job.status == Job.Status.SUCCEEDED:
        raise ConflictError(f"Job {job.pk} has already succeeded.")
    if job.status == Job.Status.RUNNING and not force and not _is_stale(job, timezone.now()):
        raise ConflictError(
            f"Job {job.pk} is running (last heartbeat {job.heartbeat_at:%H:%M:%S} UTC); cancel it first."
        )
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.PENDING,
            finished_at=None,
            error="",
            message="resumed",
            heartbeat_at=timezone.now(),
            attempts=0,
        )
        job.refresh_from_db()
        kind.resume(job)
    return job


def job_is_cancelled(*, job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists()


# --------------------------------------------------------------------------------------------- heartbeat


def _heartbeat_seconds() -> float:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return 0.0  # in-process (demo, tests): no worker to lose, no thread
    return float(getattr(settings, "HB_JOB_HEARTBEAT_SECONDS", 30))


@contextmanager
def job_heartbeat(*, job_id: int, attempt: int | None = None) -> Iterator[None]:
    """While the body runs, a daemon thread stamps ``heartbeat_at`` every ``HB_JOB_HEARTBEAT_SECONDS``
    (long steps without progress reports, e.g. a model's forward pass over a whole split, stay alive).
    It stops with the process: a killed worker's jobs go stale and the watchdog takes them over."""
    interval = _heartbeat_seconds()
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                qs = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING)
                if attempt is not None:
                    qs = qs.filter(attempts=attempt)
                qs.update(heartbeat_at=timezone.now())
        except Exception:  # the database went away: the watchdog will judge
            logger.exception("heartbeat of job %s stopped", job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


@contextmanager
def job_running(*, job_id: int, total: int | None = None, message: str = "") -> Iterator[Callable[..., None]]:
    """Run a job body: marks it running and yields a ``report(done, total=None, message=None)`` callback.

    If the body raises, the job is marked failed with the traceback and the exception propagates; on
    success the body itself calls :func:`job_succeed` with its result (after its outputs are committed).
    ``report`` raises :class:`JobInterrupted` once the job is cancelled or re-dispatched elsewhere; that
    leaves the job's status as it is.
    """
    job = job_start(job_id=job_id, total=total, message=message)
    if job.status == Job.Status.CANCELLED:
        raise JobInterrupted(f"job {job_id} was cancelled before it started")
    attempt = job.attempts

    def report(done: int, total: int | None = None, message: str | None = None) -> None:
        fields: dict[str, Any] = {"done": done, "heartbeat_at": timezone.now()}
        if total is not None:
            fields["total"] = total
        if message is not None:
            fields["message"] = message[:500]
        mine = Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, attempts=attempt)
        if not mine.update(**fields):
            raise JobInterrupted(f"job {job_id} was cancelled or taken over by another worker")

    try:
        with job_heartbeat(job_id=job_id, attempt=attempt):
            yield report
    except JobInterrupted:
        raise
    except Exception as exc:
        job_fail(
            job_id=job_id,
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"[:20000],
            message=f"failed: {exc}"[:500],
        )
        raise


# --------------------------------------------------------------------------------------------- watchdog


def _stale_after() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "HB_JOB_STALE_AFTER", 300)))


def _is_stale(job: Job, now: Any) -> bool:
    last = job.heartbeat_at or job.started_at or job.created_at
    return last < now - _stale_after()


def job_is_live_elsewhere(job: Job) -> bool:
    """Running with a fresh heartbeat: another worker is on it (a duplicate message must not start it)."""
    return job.status == Job.Status.RUNNING and not _is_stale(job, timezone.now())


def jobs_watchdog() -> dict[str, list[int]]:
    """Resume running jobs whose worker is gone, fail those whose work cannot come back (see module doc).

    Constant number of queries per job acted on; running jobs with a fresh heartbeat cost nothing."""
    now = timezone.now()
    max_attempts = int(getattr(settings, "HB_JOB_MAX_REDISPATCH", 3))
    cutoff = now - _stale_after()
    candidates = Job.objects.filter(status=Job.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    report: dict[str, list[int]] = {"resumed": [], "failed": []}
    for job in candidates.order_by("pk"):
        kind = job_kind_get(job.kind)
        last = job.heartbeat_at or job.started_at
        if kind is not None and job.attempts < max_attempts:
            with transaction.atomic():
                won = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts).update(
                    status=Job.Status.PENDING,
                    attempts=job.attempts + 1,
                    heartbeat_at=now,
                    message=f"worker lost (no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC); "
                    f"re-dispatched, attempt {job.attempts + 1} of {max_attempts}",
                )
                if won:
                    job.refresh_from_db()
                    try:
                        with transaction.atomic():
                            kind.resume(job)
                    except ApplicationError as exc:  # its outputs are gone (release or version deleted)
                        Job.objects.filter(pk=job.pk).update(
                            status=Job.Status.FAILED,
                            error=f"work is gone: {exc.message}",
                            message="worker lost",
                            finished_at=now,
                        )
                        report["failed"].append(job.pk)
                    else:
                        report["resumed"].append(job.pk)
            continue
        reason = f"work is gone: no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC" + (
            f" after {job.attempts} re-dispatches" if kind is not None else " (this kind cannot resume)"
        )
        with transaction.atomic():
            won = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts).update(
                status=Job.Status.FAILED, error=reason, message="worker lost", finished_at=now
            )
            if won:
                if kind is not None and kind.on_fail is not None:
                    kind.on_fail(job, reason)
                report["failed"].append(job.pk)
    if report["resumed"] or report["failed"]:
        logger.warning("jobs watchdog: %s", report)
    return report
