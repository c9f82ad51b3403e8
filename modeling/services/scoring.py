"""Serving: one loaded scorer per process, predict for an uploaded image, pre-score the scoring pool.

Pre-scoring (``prescore_pending``) is idempotent: it scores only open pool items whose image lacks a
prediction by the active version, inserts with ``ignore_conflicts`` against UNIQUE (image, model_version),
and a PostgreSQL advisory lock keeps two runs from scoring the same images at once. The queue hook is
``annotation.scoring.services.pool.pool_set_priority``: priority = the heads' disagreement (the population
SD of the LM, Regression and Expert overall scores), so among images with equally many ratings the most
uncertain ones are served first. Raters never see predictions: the queue only orders by the number.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction

from annotation.imaging import sha256_hex
from annotation.models import Image, Job, Standard, User
from annotation.services.images import image_decode, image_probe
from annotation.services.jobs import job_create, job_enqueue, job_running, job_succeed
from humanbeauty.errors import ApplicationError, ConflictError

from .. import selectors
from ..models import ModelVersion, Prediction

PRESCORE_LOCK_KEY = 0x4842_4D50  # "HBMP": the advisory lock id of pre-scoring

_SCORERS: dict[tuple[int, str], Any] = {}
_SCORERS_LOCK = threading.Lock()


def _batch_size() -> int:
    return int(getattr(settings, "HB_MODELING_BATCH_SIZE", 8))


def _device() -> str | None:
    return getattr(settings, "HB_MODELING_DEVICE", None) or None


def scorer_for(model_version: ModelVersion) -> Any:
    """The process's loaded ``modeling.scorer.Scorer`` for this version (load once, keep one)."""
    key = (model_version.pk, model_version.checkpoint_path)
    with _SCORERS_LOCK:
        scorer = _SCORERS.get(key)
        if scorer is None:
            from modeling.scorer import Scorer

            _SCORERS.clear()  # one model in memory per process
            try:
                scorer = Scorer(model_version.checkpoint_path, device=_device(), batch_size=_batch_size())
            except (OSError, ValueError) as exc:
                raise ConflictError(
                    f"Version {model_version.version!r} cannot be loaded: {exc}",
                    extra={"code": "checkpoint_unloadable"},
                ) from exc
            _SCORERS[key] = scorer
    return scorer


def scorer_cache_put(model_version: ModelVersion, scorer: Any) -> None:
    """Keep an already loaded scorer (e.g. the one training just evaluated with)."""
    with _SCORERS_LOCK:
        _SCORERS.clear()
        _SCORERS[(model_version.pk, model_version.checkpoint_path)] = scorer


def scorer_cache_clear() -> None:
    with _SCORERS_LOCK:
        _SCORERS.clear()


def _ready_version(model_version: ModelVersion | None) -> ModelVersion:
    if model_version is None:
        model_version = ModelVersion.objects.filter(is_active=True).first()
        if model_version is None:
            raise ConflictError("No model version is active.", extra={"code": "no_active_version"})
    if model_version.status != ModelVersion.Status.READY:
        raise ConflictError(f"Version {model_version.version!r} is {model_version.status}, not ready.")
    return model_version


def _result_for(scorer: Any, images: list[Any], names: list[str]) -> list[dict]:
    from modeling.scorer import results_from_scores

    return results_from_scores(scorer.score_images(images), names, scorer.model.config.standard)


def predict_image(
    *, data: bytes, model_version: ModelVersion | None = None, in_web_process: bool = True
) -> dict[str, Any]:
    """Scores for uploaded bytes (decoded with the store's limits; nothing is stored): the ArtiMuse-style
    ``eval_image`` dict (score, rating_level, each head, 12 dimensions) plus the version used. In a web
    process, images over ``HB_PREDICT_SYNC_MAX_PIXELS`` are refused (413) before decoding: the queued
    prediction (:func:`predict_start`) decodes them on a worker."""
    probed = image_probe(data=data)  # 400/413 on bad or oversized files, before any decoding
    if in_web_process and probed.width * probed.height > settings.HB_PREDICT_SYNC_MAX_PIXELS:
        raise ApplicationError(
            f"The image is {probed.width}x{probed.height}; images over "
            f"{settings.HB_PREDICT_SYNC_MAX_PIXELS:,} pixels are scored on a worker: "
            "POST it to /api/modeling/predict/jobs/ instead.",
            extra={"code": "use_async", "max_pixels": settings.HB_PREDICT_SYNC_MAX_PIXELS},
            status=413,
        )
    decoded = image_decode(data=data)
    model_version = _ready_version(model_version)
    scorer = scorer_for(model_version)
    result = _result_for(scorer, [decoded.image], [decoded.sha256])[0]
    result["model_version"] = model_version.version
    return result


PREDICT_JOB_KIND = "modeling.predict"
PREDICT_UPLOADS = "predict-uploads"


def predict_start(
    *, data: bytes, model_version: ModelVersion | None = None, created_by: User | None = None
) -> Job:
    """Queue a prediction on the ``gpu`` workers, where the model lives (the web process then never loads
    it). The upload is checked now — bad files (400/413) and "no ready version" (409) fail before anything
    is queued — and parked in storage for the worker, which deletes it; the job's result is the same dict
    as :func:`predict_image`. Poll ``/api/jobs/<id>/``."""
    from ..tasks import predict_task

    # Only the cheap checks here (header, format, declared pixels): the full decode is the worker's.
    probed = image_probe(data=data)
    model_version = _ready_version(model_version)
    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(probed.format, "img")
    with transaction.atomic():
        job = job_create(
            kind=PREDICT_JOB_KIND,
            params={"version": model_version.version, "image": sha256_hex(data)},
            created_by=created_by,
            total=1,
        )
        name = default_storage.save(f"{PREDICT_UPLOADS}/{job.pk}.{extension}", ContentFile(data))
        Job.objects.filter(pk=job.pk).update(params={**job.params, "upload": name})
        job.params["upload"] = name
        job_enqueue(job=job, task=predict_task)
    job.refresh_from_db()
    return job


def predict_run(*, job_id: int) -> dict[str, Any] | None:
    """Body of ``modeling.predict``: score the parked upload with the job's version, store the result on the
    job, delete the upload (also when scoring fails). A finished job is left alone (idempotent)."""
    job = Job.objects.filter(pk=job_id, kind=PREDICT_JOB_KIND).first()
    if job is None or job.is_finished:
        return None
    name = job.params.get("upload", "")
    try:
        with job_running(job_id=job_id, total=1, message="scoring"):
            model_version = ModelVersion.objects.filter(version=job.params["version"]).first()
            if model_version is None:
                raise ConflictError(f"Model version {job.params['version']!r} no longer exists.")
            with default_storage.open(name, "rb") as fh:
                result = predict_image(data=fh.read(), model_version=model_version, in_web_process=False)
            job_succeed(
                job_id=job_id, result=result, message=f"{result['rating_level']} ({result['score']:.3f})"
            )
            return result
    finally:
        if name and default_storage.exists(name):
            default_storage.delete(name)


def score_paths(
    *, paths: list[str | Path], model_version: ModelVersion | None = None
) -> list[dict[str, Any]]:
    """``eval_dataset`` for local files (the CLI): one dict per path, in order."""
    model_version = _ready_version(model_version)
    return scorer_for(model_version).eval_dataset([str(p) for p in paths])


# ------------------------------------------------------------------------------------------------ pre-scoring


HEAD_KEYS = {
    "lm": "lm_score",
    "regression": "regression_score",
    "expert": "expert_overall",
    "final": "final_score",
}


def prediction_fields(result: dict[str, Any], *, standard: Standard) -> dict[str, Any]:
    """Scorer result dict -> Prediction field values (dimensions and heads by key)."""
    return {
        "standard": standard,
        "dimension_scores": {k: float(v) for k, v in result["dimensions"].items()},
        "head_scores": {head: result[name] for head, name in HEAD_KEYS.items()},
        "score": result["score"],
        "rating_level": result["rating_level"],
        "heads_disagreement": result["heads_disagreement"],
    }


@contextlib.contextmanager
def _exclusive() -> Iterator[bool]:
    """A session-level PostgreSQL advisory lock (True when acquired; always True on other databases)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [PRESCORE_LOCK_KEY])
        acquired = bool(cur.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [PRESCORE_LOCK_KEY])


def _load(image: Image) -> Any:
    from PIL import Image as PILImage

    with default_storage.open(image.file.name, "rb") as fh:
        data = fh.read()
    with PILImage.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def prescore_start(
    *, created_by: User | None = None, model_version: ModelVersion | None = None, limit: int | None = None
) -> Job:
    """Queue a pre-scoring job (on commit) for the active version."""
    from ..tasks import prescore_pending_task

    version = model_version or ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        raise ConflictError("No model version is active.", extra={"code": "no_active_version"})
    job = job_create(
        kind="modeling.prescore", params={"version": version.version, "limit": limit}, created_by=created_by
    )
    job_enqueue(job=job, task=prescore_pending_task)
    return job


def prescore_pending(*, job_id: int | None = None, limit: int | None = None) -> dict[str, Any]:
    """Score open pool items lacking a prediction by the active version, in batches; store predictions and
    set the queue priority. Without ``job_id`` (the 5-minute beat) a job row is created only when there is
    work. Returns a summary dict."""
    from annotation.scoring.services.pool import pool_set_priority

    from ..selectors import prescore_pending_items

    if job_id is not None:
        job = Job.objects.filter(pk=job_id).first()
        if job is None or job.is_finished:
            return {"skipped": "job missing or finished"}
        limit = limit if limit is not None else (job.params or {}).get("limit")
    version = ModelVersion.objects.filter(is_active=True, status=ModelVersion.Status.READY).first()
    if version is None:
        if job_id is not None:
            job_succeed(job_id=job_id, result={"skipped": "no active version"}, message="no active version")
        return {"skipped": "no active version"}
    with _exclusive() as acquired:
        if not acquired:
            if job_id is not None:
                job_succeed(job_id=job_id, result={"skipped": "locked"}, message="another run is pre-scoring")
            return {"skipped": "locked"}
        pending = prescore_pending_items(model_version=version)
        items = list(pending[:limit] if limit else pending)
        if not items:
            if job_id is not None:
                job_succeed(
                    job_id=job_id, result={"version": version.version, "scored": 0}, message="nothing pending"
                )
            return {"version": version.version, "scored": 0}
        if job_id is None:
            job_id = job_create(
                kind="modeling.prescore", params={"version": version.version, "limit": limit}
            ).pk
        with job_running(
            job_id=job_id, total=len(items), message=f"pre-scoring with {version.version}"
        ) as report:
            started = time.perf_counter()
            scorer = scorer_for(version)
            standard = selectors.prediction_standard(version)
            batch = max(1, scorer.batch_size)
            scored, unreadable = 0, []
            for start in range(0, len(items), batch):
                chunk = items[start : start + batch]
                loaded = []
                for item in chunk:
                    try:
                        loaded.append((item, _load(item.image)))
                    except (OSError, ValueError) as exc:
                        unreadable.append({"image": item.image_id, "error": str(exc)[:200]})
                if loaded:
                    results = _result_for(
                        scorer, [img for _, img in loaded], [it.image_id for it, _ in loaded]
                    )
                    Prediction.objects.bulk_create(
                        [
                            Prediction(
                                image_id=it.image_id,
                                model_version=version,
                                **prediction_fields(res, standard=standard),
                            )
                            for (it, _), res in zip(loaded, results, strict=True)
                        ],
                        ignore_conflicts=True,
                    )
                    pool_set_priority(
                        priorities={
                            it.image_id: res["heads_disagreement"]
                            for (it, _), res in zip(loaded, results, strict=True)
                        }
                    )
                    scored += len(loaded)
                report(min(start + len(chunk), len(items)), message=f"{scored} scored")
            seconds = time.perf_counter() - started
            result = {
                "version": version.version,
                "scored": scored,
                "unreadable": unreadable,
                "seconds": round(seconds, 3),
                "images_per_s": round(scored / seconds, 3) if seconds > 0 else None,
            }
            job_succeed(job_id=job_id, result=result, message=f"{scored} images pre-scored")
        return result
