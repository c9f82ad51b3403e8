"""RetinaFace filtering of public sources as a parallel, resumable job.

Flow (one ``Job`` of kind ``curation.filter``)::

    filter_start ──on_commit──▶ curation.filter_run (filter_dispatch)
                                  │  pending = target images lacking a FaceDetection for this detector version
                                  ▼
                 group(curation.filter_chunk(job_id, [image ids]) × ⌈pending / chunk_size⌉)
                                  │  each chunk: load → detect → bulk insert (ignore_conflicts) → progress
                                  ▼
                 filter_finish (chord callback when a result backend is configured; otherwise every chunk
                 calls it and the first one that sees nothing pending finishes the job)

Why it is safe to re-run: UNIQUE (image, detector_version) plus "process only missing" means a re-delivered
chunk, a duplicate chunk or a resumed job (after a worker was killed) inserts nothing twice and skips what
is done. Progress is *counted* (rows present / target rows), never incremented, and committed in the same
transaction as the chunk's rows, so it is right after any crash. A file that cannot be read becomes a
``FaceDetection`` with ``error`` set; it never stops the job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.models import Image, Job, User
from annotation.services.jobs import (
    job_create,
    job_enqueue,
    job_heartbeat,
    job_is_cancelled,
    job_progress,
    job_resume,
    job_start,
)
from humanbeauty.errors import ApplicationError

from .. import faces as faces_mod
from ..models import FaceDetection, Source, SourceItem

logger = logging.getLogger(__name__)

JOB_KIND = "curation.filter"
DEFAULT_CHUNK_SIZE = 32
MAX_CHUNK_SIZE = 1000  # a chunk must finish well within HB_CHUNK_TIME_LIMIT (~0.3 s an image)
_DETECTORS: dict[tuple[float, float, int], faces_mod.FaceDetector] = {}


def detector_get(*, confidence: float, nms: float, max_size: int) -> faces_mod.FaceDetector:
    """One detector (ONNX session) per worker process and thresholds."""
    key = (float(confidence), float(nms), int(max_size))
    if key not in _DETECTORS:
        _DETECTORS[key] = faces_mod.FaceDetector(confidence, nms, max_size, intra_op_threads=1)
    return _DETECTORS[key]


def filter_params(
    *,
    confidence: float = faces_mod.DEFAULT_CONFIDENCE,
    min_face_size_px: float = faces_mod.DEFAULT_MIN_FACE_SIZE_PX,
    nms: float = faces_mod.DEFAULT_NMS,
    max_size: int = faces_mod.DEFAULT_MAX_SIZE,
    face_mode: str = faces_mod.DEFAULT_FACE_MODE,
) -> dict[str, Any]:
    """The filter job's parameters (stored on the job). ``face_mode``: "platform" (second faces smaller than
    ``min_face_size_px`` are ignored) or "paper" (any confident second face rejects); see docs/curation.md."""
    if face_mode not in faces_mod.FACE_MODES:
        raise ApplicationError(
            f"face_mode must be one of {', '.join(faces_mod.FACE_MODES)}.", extra={"field": "face_mode"}
        )
    if not 0.0 < confidence < 1.0:
        raise ApplicationError("confidence must be in (0, 1).", extra={"field": "confidence"})
    if min_face_size_px < 0:
        raise ApplicationError("min_face_size_px must be >= 0.", extra={"field": "min_face_size_px"})
    return {
        "confidence": float(confidence),
        "min_face_size_px": float(min_face_size_px),
        "nms": float(nms),
        "max_size": int(max_size),
        "face_mode": face_mode,
        "detector_version": faces_mod.detector_version(confidence, nms, max_size),
    }


def _thresholds(params: dict[str, Any]) -> dict[str, Any]:
    thresholds = {k: params[k] for k in ("confidence", "min_face_size_px", "nms", "max_size")}
    if params.get("face_mode", faces_mod.DEFAULT_FACE_MODE) != faces_mod.DEFAULT_FACE_MODE:
        thresholds["face_mode"] = params["face_mode"]  # platform-mode rows keep their stored form
    return thresholds


def filter_target_images(*, source_keys: Iterable[str]) -> QuerySet[Image]:
    return Image.objects.filter(source_items__source__key__in=list(source_keys)).distinct()


def filter_pending_ids(*, source_keys: Iterable[str], detector_version: str) -> list[str]:
    """Images of the sources that lack a FaceDetection for ``detector_version`` (sorted ids)."""
    done = FaceDetection.objects.filter(detector_version=detector_version).values("image_id")
    return list(
        SourceItem.objects.filter(source__key__in=list(source_keys))
        .exclude(image_id__in=done)
        .order_by("image_id")
        .values_list("image_id", flat=True)
        .distinct()
    )


def _counts(params: dict[str, Any]) -> tuple[int, int]:
    target = SourceItem.objects.filter(source__key__in=params["sources"]).values("image_id")
    total = Image.objects.filter(pk__in=target).count()
    done = FaceDetection.objects.filter(
        detector_version=params["detector_version"], image_id__in=target
    ).count()
    return done, total


def filter_start(
    *,
    source_keys: list[str],
    created_by: User | None = None,
    confidence: float = faces_mod.DEFAULT_CONFIDENCE,
    min_face_size_px: float = faces_mod.DEFAULT_MIN_FACE_SIZE_PX,
    face_mode: str = faces_mod.DEFAULT_FACE_MODE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    enqueue: bool = True,
) -> Job:
    """Create a filter job over the given sources and queue ``curation.filter_run`` after commit."""
    from ..tasks import filter_run_task

    keys = sorted(set(source_keys))
    known = set(Source.objects.filter(key__in=keys).values_list("key", flat=True))
    if not keys or known != set(keys):
        raise ApplicationError("Unknown source(s).", extra={"unknown": sorted(set(keys) - known)}, status=404)
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ApplicationError(f"chunk_size must be in [1, {MAX_CHUNK_SIZE}].", extra={"field": "chunk_size"})
    params = filter_params(confidence=confidence, min_face_size_px=min_face_size_px, face_mode=face_mode)
    params |= {"sources": keys, "chunk_size": int(chunk_size)}
    with transaction.atomic():
        job = job_create(kind=JOB_KIND, params=params, created_by=created_by)
        if enqueue:
            job_enqueue(job=job, task=filter_run_task)
    return job


def filter_requeue(job: Job) -> None:
    """Resume hook (``job_resume``, the watchdog): queue the dispatcher on commit; it splits whatever is
    still missing into chunks, so chunks already stored are never redone."""
    from ..tasks import filter_run_task

    job_enqueue(job=job, task=filter_run_task)


def filter_resume(*, job: Job, enqueue: bool = True) -> Job:
    """Re-queue a filter job (e.g. after its worker was killed): only missing images are processed.
    ``enqueue=False`` only resets the job (the caller sends ``curation.filter_run`` itself)."""
    if job.kind != JOB_KIND:
        raise ApplicationError(f"Job {job.pk} is not a filter job.")
    if job.status == Job.Status.SUCCEEDED:
        return job
    if enqueue:
        return job_resume(job=job, force=True)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PENDING, finished_at=None, error="")
    job.refresh_from_db()
    return job


def filter_dispatch(*, job_id: int) -> dict[str, Any]:
    """Task body of ``curation.filter_run``: split what is still missing into chunk tasks."""
    from celery import chord, group

    from ..tasks import filter_chunk_task, filter_finish_task

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status in {Job.Status.SUCCEEDED, Job.Status.CANCELLED}:
        return {"skipped": True}
    params = job.params
    done, total = _counts(params)
    job_start(job_id=job_id, total=total, message="filtering")
    job_progress(job_id=job_id, done=done, total=total)
    pending = filter_pending_ids(source_keys=params["sources"], detector_version=params["detector_version"])
    size = int(params.get("chunk_size", DEFAULT_CHUNK_SIZE))
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
    if not chunks:
        filter_finish(job_id=job_id)
        return {"chunks": 0}
    header = group(filter_chunk_task.si(job_id, ids) for ids in chunks)
    if settings.CELERY_RESULT_BACKEND and not settings.CELERY_TASK_ALWAYS_EAGER:
        chord(header)(filter_finish_task.si(job_id))
    else:
        header.apply_async()
    return {"chunks": len(chunks), "pending": len(pending)}


def _open(image: Image):
    try:
        return open(default_storage.path(image.file.name), "rb")
    except NotImplementedError:  # remote storage (S3)
        return default_storage.open(image.file.name, "rb")


def filter_chunk(*, job_id: int, image_ids: list[str]) -> dict[str, int]:
    """Detect faces on ``image_ids`` that still lack a result, store all results in one insert."""
    job = Job.objects.filter(pk=job_id).first()
    if (
        job is None
        or job.status in {Job.Status.CANCELLED, Job.Status.FAILED}
        or job_is_cancelled(job_id=job_id)
    ):
        return {"processed": 0}
    params = job.params
    version = params["detector_version"]
    done_ids = set(
        FaceDetection.objects.filter(detector_version=version, image_id__in=image_ids).values_list(
            "image_id", flat=True
        )
    )
    todo = [i for i in image_ids if i not in done_ids]
    detector = detector_get(confidence=params["confidence"], nms=params["nms"], max_size=params["max_size"])
    thresholds = _thresholds(params)
    with job_heartbeat(job_id=job_id):
        rows = [
            _detect_one(image, detector, params, thresholds, job_id)
            for image in Image.objects.filter(pk__in=todo).only("sha256", "file")
        ]
    # Results and progress commit together: the job row is locked first, so chunks finishing at once write
    # in turn and each counts what the others committed. A worker killed anywhere leaves both or neither.
    with transaction.atomic():
        Job.objects.select_for_update().filter(pk=job_id).first()
        FaceDetection.objects.bulk_create(rows, ignore_conflicts=True)
        done, total = _counts(params)
        job_progress(job_id=job_id, done=done, total=total)
    if not (settings.CELERY_RESULT_BACKEND and not settings.CELERY_TASK_ALWAYS_EAGER) and done >= total:
        filter_finish(job_id=job_id)
    return {"processed": len(rows), "errors": sum(1 for r in rows if r.error)}


def _detect_one(
    image: Image,
    detector: faces_mod.FaceDetector,
    params: dict[str, Any],
    thresholds: dict[str, Any],
    job_id: int,
) -> FaceDetection:
    try:
        with _open(image) as fh:
            faces, w, h = detector.detect_path(fh)
    except Exception as exc:  # corrupt/unreadable file: record it, never stop the job
        return FaceDetection(
            image_id=image.sha256,
            detector_version=params["detector_version"],
            kept=False,
            reason="unreadable",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            thresholds=thresholds,
            job_id=job_id,
        )
    verdict = faces_mod.single_face_verdict(
        faces,
        min_confidence=params["confidence"],
        min_face_size_px=params["min_face_size_px"],
        mode=params.get("face_mode", faces_mod.DEFAULT_FACE_MODE),
    )
    return FaceDetection(
        image_id=image.sha256,
        detector_version=params["detector_version"],
        face_count=len(faces),
        faces=[f.to_dict() for f in faces],
        width=w,
        height=h,
        kept=verdict.keep,
        reason=verdict.reason[:300],
        thresholds=thresholds,
        job_id=job_id,
    )


def _refresh_verdicts(params: dict[str, Any]) -> int:
    """Existing detections stored under other rule thresholds (min face size): recompute the verdict from
    the stored faces (no detector run)."""
    thresholds = _thresholds(params)
    target = SourceItem.objects.filter(source__key__in=params["sources"]).values("image_id")
    stale = (
        FaceDetection.objects.filter(detector_version=params["detector_version"], image_id__in=target)
        .exclude(thresholds=thresholds)
        .filter(error="")
    )
    changed = []
    for det in stale.iterator(chunk_size=2000):
        faces = [
            faces_mod.Face(tuple(f["box"]), float(f["score"]), tuple(tuple(p) for p in f["landmarks"]))
            for f in det.faces
        ]
        v = faces_mod.single_face_verdict(
            faces,
            min_confidence=params["confidence"],
            min_face_size_px=params["min_face_size_px"],
            mode=params.get("face_mode", faces_mod.DEFAULT_FACE_MODE),
        )
        det.kept, det.reason, det.thresholds = v.keep, v.reason[:300], thresholds
        changed.append(det)
    FaceDetection.objects.bulk_update(changed, ["kept", "reason", "thresholds"], batch_size=1000)
    return len(changed)


def filter_finish(*, job_id: int) -> bool:
    """Chord callback: when nothing is pending, refresh verdicts, normalise the sources and mark the job
    succeeded. Idempotent (the status flip is a conditional UPDATE)."""
    from .normalisation import source_normalise

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return False
    params = job.params
    if filter_pending_ids(source_keys=params["sources"], detector_version=params["detector_version"]):
        return False
    refreshed = _refresh_verdicts(params)
    done, total = _counts(params)
    target = SourceItem.objects.filter(source__key__in=params["sources"]).values("image_id")
    dets = FaceDetection.objects.filter(detector_version=params["detector_version"], image_id__in=target)
    normalisation = {}
    for source in Source.objects.filter(key__in=params["sources"]):
        normalisation[source.key] = source_normalise(
            source=source, detector_version=params["detector_version"]
        )
    result = {
        "detector_version": params["detector_version"],
        "images": total,
        "kept": dets.filter(kept=True).count(),
        "rejected": dets.filter(kept=False, error="").count(),
        "errors": dets.exclude(error="").count(),
        "verdicts_refreshed": refreshed,
        "normalisation": normalisation,
    }
    won = Job.objects.filter(pk=job_id, status__in=[Job.Status.RUNNING, Job.Status.PENDING]).update(
        status=Job.Status.SUCCEEDED,
        done=done,
        total=total,
        result=result,
        message=f"kept {result['kept']} of {total} ({result['errors']} unreadable)",
        finished_at=timezone.now(),
    )
    return bool(won)


def filter_summaries(*, sources: list[Source]) -> dict[str, dict[str, Any]]:
    """:func:`filter_summary` of many sources in a constant number of queries (two), for list pages.
    Each source is summarised under the detector version it was normalised with (else the default)."""
    from django.db.models import Count, Q

    default = filter_params()["detector_version"]
    version_of = {s.pk: s.normalisation.get("detector_version") or default for s in sources}
    items = dict.fromkeys(version_of, (0, 0))
    for source_id, n_items, n_normalised in (
        SourceItem.objects.filter(source_id__in=list(version_of))
        .values("source_id")
        .annotate(n=Count("id"), normalised=Count("id", filter=Q(score__isnull=False)))
        .values_list("source_id", "n", "normalised")
    ):
        items[source_id] = (n_items, n_normalised)
    dets: dict[tuple[int, str], tuple[int, int, int]] = {}
    for source_id, version, filtered, kept, errors in (
        SourceItem.objects.filter(
            source_id__in=list(version_of),
            image__face_detections__detector_version__in=set(version_of.values()),
        )
        .values("source_id", "image__face_detections__detector_version")
        .annotate(
            filtered=Count("image_id", distinct=True),
            kept=Count("image_id", filter=Q(image__face_detections__kept=True), distinct=True),
            errors=Count("image_id", filter=~Q(image__face_detections__error=""), distinct=True),
        )
        .values_list("source_id", "image__face_detections__detector_version", "filtered", "kept", "errors")
    ):
        dets[(source_id, version)] = (filtered, kept, errors)
    out = {}
    for source in sources:
        version = version_of[source.pk]
        filtered, kept, errors = dets.get((source.pk, version), (0, 0, 0))
        n_items, normalised = items[source.pk]
        out[source.key] = {
            "detector_version": version,
            "items": n_items,
            "filtered": filtered,
            "kept": kept,
            "errors": errors,
            "normalised": normalised,
        }
    return out


def filter_summary(*, source: Source, detector_version: str | None = None) -> dict[str, Any]:
    """Per-source filter state for pages and the API."""
    version = (
        detector_version
        or source.normalisation.get("detector_version")
        or filter_params()["detector_version"]
    )
    items = SourceItem.objects.filter(source=source)
    dets = FaceDetection.objects.filter(detector_version=version, image_id__in=items.values("image_id"))
    n_items = items.count()
    return {
        "detector_version": version,
        "items": n_items,
        "filtered": dets.count(),
        "kept": dets.filter(kept=True).count(),
        "errors": dets.exclude(error="").count(),
        "normalised": items.filter(score__isnull=False).count(),
    }
