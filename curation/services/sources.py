"""Public sources: register a dataset folder and import its rows into the image store (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction

from annotation.models import Image, Job, User
from annotation.services.images import image_ingest_file
from annotation.services.jobs import job_create, job_enqueue, job_progress, job_running, job_succeed
from humanbeauty.errors import ApplicationError, ConflictError

from ..importers import IMPORTERS, Importer, ImportResult, LabelFileNotFoundError, make_csv_importer
from ..models import Source, SourceItem

JOB_KIND = "curation.import"
GENERIC_CSV = "csv"
CSV_OPTION_KEYS = ("csv_name", "image_col", "score_col", "image_dir", "delimiter")


def importer_for(*, importer: str, key: str, options: dict[str, Any] | None = None) -> Importer:
    """The pure importer for a registry key, or a generic CSV importer built from ``options``."""
    options = options or {}
    if importer == GENERIC_CSV:
        score_range = options.get("score_range")
        if not (isinstance(score_range, list | tuple) and len(score_range) == 2):
            raise ApplicationError("The generic CSV importer needs options.score_range = [min, max].")
        kwargs = {k: options[k] for k in CSV_OPTION_KEYS if k in options}
        return make_csv_importer(
            key,
            score_range=(float(score_range[0]), float(score_range[1])),
            kind=options.get("kind", "natural"),
            **kwargs,
        )
    if importer not in IMPORTERS:
        raise ApplicationError(
            f"Unknown importer {importer!r}.", extra={"importers": [*sorted(IMPORTERS), GENERIC_CSV]}
        )
    return IMPORTERS[importer]


def source_register(
    *,
    key: str,
    importer: str,
    root: str,
    name: str = "",
    options: dict[str, Any] | None = None,
    created_by: User | None = None,
) -> Source:
    """Register (or return the identical existing) source. A key already used with another importer or
    folder is a conflict: a source's identity must not change under its items."""
    imp = importer_for(importer=importer, key=key, options=options)
    root_path = Path(root)
    if not root_path.is_absolute():
        raise ApplicationError(f"root must be an absolute path, got {root!r}.", extra={"field": "root"})
    if not root_path.is_dir():
        raise ApplicationError(
            f"{root!r} is not a folder on the workers' filesystem.", extra={"field": "root"}
        )
    existing = Source.objects.filter(key=key).first()
    if existing is not None:
        if existing.importer != importer or existing.root != str(root_path):
            raise ConflictError(
                f"Source {key!r} is already registered with importer {existing.importer!r} at {existing.root}."
            )
        return existing
    source = Source(
        key=key,
        name=name or key,
        importer=importer,
        options=options or {},
        root=str(root_path),
        score_min=imp.score_range[0],
        score_max=imp.score_range[1],
        kind=imp.kind,
        created_by=created_by,
    )
    source.full_clean()
    source.save()
    return source


def source_import(*, source: Source, job_id: int | None = None) -> dict[str, Any]:
    """Load the source's label files with its importer and register every image (hard links on a
    filesystem store). Per-row problems (pure importer skips and unreadable images) are returned, never
    raised. Idempotent: existing (source, native_id) rows are kept; a changed native score is updated
    and the item's normalised score cleared until the next normalisation."""
    imp = importer_for(importer=source.importer, key=source.key, options=source.options)
    try:
        loaded: ImportResult = imp.load(Path(source.root))
    except LabelFileNotFoundError as exc:
        raise ApplicationError(str(exc), extra={"source": source.key}) from exc
    skipped = [{"ref": s.ref, "reason": s.reason} for s in loaded.skipped]
    existing = {
        item.native_id: item
        for item in SourceItem.objects.filter(source=source).only("native_id", "raw_score")
    }
    created = updated = unchanged = 0
    new_items: list[SourceItem] = []
    for i, row in enumerate(loaded.rows):
        try:
            image, _ = image_ingest_file(
                path=row.path,
                provenance=Image.Provenance.PUBLIC,
                source=source.key,
                source_ref=row.native_id,
            )
        except (ApplicationError, OSError) as exc:
            message = exc.message if isinstance(exc, ApplicationError) else str(exc)
            skipped.append({"ref": row.native_id, "reason": f"image not stored: {message}"})
            continue
        item = existing.get(row.native_id)
        if item is None:
            new_items.append(
                SourceItem(
                    source=source,
                    image=image,
                    native_id=row.native_id,
                    raw_score=row.raw_score,
                    extra=_jsonable(row.extra),
                )
            )
            created += 1
        elif item.raw_score != row.raw_score:
            SourceItem.objects.filter(pk=item.pk).update(
                raw_score=row.raw_score, image=image, score=None, level="", kept=None
            )
            updated += 1
        else:
            unchanged += 1
        if len(new_items) >= 500:
            SourceItem.objects.bulk_create(new_items, ignore_conflicts=True)
            new_items = []
        if job_id is not None and i % 50 == 0:
            job_progress(job_id=job_id, done=i, total=len(loaded.rows))
    SourceItem.objects.bulk_create(new_items, ignore_conflicts=True)
    return {
        "source": source.key,
        "read": loaded.read,
        "kept": created + updated + unchanged,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "skipped": len(skipped),
        "skipped_rows": skipped[:1000],
        "label_files": [str(p) for p in loaded.label_files],
    }


def _jsonable(extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in extra.items():
        out[str(k)] = v if isinstance(v, str | int | float | bool | list | dict) or v is None else str(v)
    return out


def source_import_start(*, source: Source, created_by: User | None = None) -> Job:
    """Queue an import job (Celery task ``curation.source_import``) after the transaction commits."""
    from ..tasks import source_import_task

    with transaction.atomic():
        job = job_create(kind=JOB_KIND, params={"source": source.key}, created_by=created_by)
        job_enqueue(job=job, task=source_import_task)
    return job


def source_import_requeue(job: Job) -> None:
    """Resume hook: run the import again (content addressing makes already stored files no-ops)."""
    from ..tasks import source_import_task

    job_enqueue(job=job, task=source_import_task)


def source_import_run(*, job_id: int) -> None:
    """Task body: run :func:`source_import` for the job's source and record rows read/skipped and why."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return
    source = Source.objects.filter(key=job.params.get("source")).first()
    with job_running(job_id=job_id, message="importing") as report:
        if source is None:
            raise ApplicationError(f"source {job.params.get('source')!r} no longer exists")
        result = source_import(source=source, job_id=job_id)
        report(result["kept"], total=result["kept"])
    job_succeed(
        job_id=job_id,
        result=result,
        message=f"read {result['read']}, kept {result['kept']}, skipped {result['skipped']}",
    )
