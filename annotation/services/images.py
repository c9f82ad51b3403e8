"""Writes to the content-addressed image store."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction

from humanbeauty.errors import ApplicationError

from ..imaging import (
    DecodedImage,
    ImageRejected,
    ProbedImage,
    decode_image,
    make_thumbnail,
    probe_image,
    sha256_hex,
)
from ..models import Image, Job, User
from .jobs import job_create, job_enqueue, job_running, job_succeed

# Files written by image_ingest inside an ``image_files_discarded_on_error()`` block: (sha256, names).
_WRITTEN: ContextVar[list[tuple[str, list[str]]] | None] = ContextVar("hb_images_written", default=None)


@contextlib.contextmanager
def image_files_discarded_on_error() -> Iterator[None]:
    """Around an all-or-nothing import (outside its transaction): when it fails, delete the files
    written for images whose rows the rollback removed, so a failed import leaves no orphan files."""
    written: list[tuple[str, list[str]]] = []
    token = _WRITTEN.set(written)
    try:
        yield
    except BaseException:
        for sha, names in written:
            if not Image.objects.filter(sha256=sha).exists():
                for name in names:
                    with contextlib.suppress(OSError):
                        default_storage.delete(name)
        raise
    finally:
        _WRITTEN.reset(token)


def _storage_name(prefix: str, sha: str, ext: str) -> str:
    return f"{prefix}/{sha[:2]}/{sha[2:4]}/{sha}.{ext}"


def upload_read(*, upload: Any) -> bytes:
    """Read an uploaded file's bytes, refusing (413) anything over the byte limit before reading it."""
    limit = settings.HB_IMAGE_MAX_BYTES
    if upload.size > limit:
        raise ApplicationError(
            f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.",
            extra={"code": "too_large"},
            status=413,
        )
    return upload.read()


def _as_application_error(exc: ImageRejected) -> ApplicationError:
    status = 413 if exc.code == "too_large" else 400
    return ApplicationError(str(exc), extra={"code": exc.code}, status=status)


def image_probe(*, data: bytes) -> ProbedImage:
    """The cheap checks (size, magic bytes, allowed format, header-declared pixels) without decoding:
    for web processes, before anything is stored. Raises ApplicationError (400/413)."""
    try:
        return probe_image(
            data,
            max_bytes=settings.HB_IMAGE_MAX_BYTES,
            max_pixels=settings.HB_IMAGE_MAX_PIXELS,
            formats=settings.HB_IMAGE_FORMATS,
        )
    except ImageRejected as exc:
        raise _as_application_error(exc) from exc


def image_decode(*, data: bytes, reencode: bool = False) -> DecodedImage:
    """Decode with the configured limits; raise ApplicationError (400/413) with a clear message.
    ``reencode``: the bytes to store are a re-encoding of the pixels (uploads; see ``imaging``)."""
    try:
        return decode_image(
            data,
            max_bytes=settings.HB_IMAGE_MAX_BYTES,
            max_pixels=settings.HB_IMAGE_MAX_PIXELS,
            formats=settings.HB_IMAGE_FORMATS,
            reencode=reencode,
        )
    except ImageRejected as exc:
        raise _as_application_error(exc) from exc


def image_ingest(
    *,
    data: bytes,
    provenance: str,
    source: str = "",
    source_ref: str = "",
    uploaded_by: User | None = None,
    decoded: DecodedImage | None = None,
) -> tuple[Image, bool]:
    """Store ``data`` once; return ``(image, created)``. The same bytes always give the same image, and
    so do a stored image's own bytes.

    What is stored is a re-encoding of the pixels (no trailing payload, metadata or comment survives;
    ``imaging``), unless the caller passes ``decoded`` (a trusted local file, ``image_ingest_file``).
    Nothing is stored for rejected bytes. Storage writes happen before the row exists, and are
    idempotent (same name, same bytes), so a crash between the two leaves no dangling row.
    """
    sha = sha256_hex(data)
    existing = Image.objects.filter(original_sha256=sha).first() or Image.objects.filter(sha256=sha).first()
    if existing is not None:
        return existing, False
    decoded = decoded or image_decode(data=data, reencode=True)
    existing = Image.objects.filter(sha256=decoded.sha256).first()
    if existing is not None:
        return existing, False
    name = _storage_name("images", decoded.sha256, decoded.extension)
    written: list[str] = []
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(decoded.data))
        written.append(name)
    thumb_name = _storage_name("thumbs", decoded.sha256, "jpg")
    if not default_storage.exists(thumb_name):
        thumb_name = default_storage.save(
            thumb_name, ContentFile(make_thumbnail(decoded.image, settings.HB_THUMBNAIL_SIZE))
        )
        written.append(thumb_name)
    if (tracked := _WRITTEN.get()) is not None and written:
        tracked.append((decoded.sha256, written))
    image = Image(
        sha256=decoded.sha256,
        original_sha256=decoded.original_sha256,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        size_bytes=len(decoded.data),
        provenance=provenance,
        source=source,
        source_ref=source_ref[:500],
        uploaded_by=uploaded_by,
    )
    image.file.name = name
    image.thumbnail.name = thumb_name
    image.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            image.save(force_insert=True)
    except IntegrityError:  # a concurrent upload of the same bytes won the race
        return Image.objects.get(sha256=decoded.sha256), False
    return image, True


# ------------------------------------------------------------------------------------- uploads (web -> worker)
#
# Design note. A web process only runs the cheap checks (size, magic bytes, allowed format, the pixel count
# the header declares). Up to ``HB_IMAGE_SYNC_MAX_PIXELS`` the decode, re-encode and thumbnail stay in the
# request (a few tens of ms); above it the bytes are parked in storage (shared by web and workers, S3 in
# compose) and an ``annotation.image_ingest`` job does the heavy work on a worker. The parked file is deleted
# when the job ends either way; a failed decode is the job's recorded error and leaves no stored image.
# The job is resumable (the store is content-addressed, so running it twice stores the image once).

IMAGE_INGEST_JOB_KIND = "annotation.image_ingest"
IMAGE_UPLOADS = "image-uploads"


@dataclass(frozen=True)
class ImageUploadOutcome:
    """What an upload became: a stored image (``created`` or found), or a queued ``job``."""

    image: Image | None
    created: bool
    job: Job | None


def image_upload(
    *,
    data: bytes,
    provenance: str,
    source: str = "",
    source_ref: str = "",
    uploaded_by: User | None = None,
) -> ImageUploadOutcome:
    """An upload from a web process: bytes already stored return their image; bad files are refused
    (400/413) before anything is stored; images up to ``HB_IMAGE_SYNC_MAX_PIXELS`` are stored now; bigger
    ones are parked for a worker (:func:`image_ingest_start`)."""
    sha = sha256_hex(data)
    existing = Image.objects.filter(original_sha256=sha).first() or Image.objects.filter(sha256=sha).first()
    if existing is not None:
        return ImageUploadOutcome(image=existing, created=False, job=None)
    probed = image_probe(data=data)
    if probed.width * probed.height <= settings.HB_IMAGE_SYNC_MAX_PIXELS:
        image, created = image_ingest(
            data=data, provenance=provenance, source=source, source_ref=source_ref, uploaded_by=uploaded_by
        )
        return ImageUploadOutcome(image=image, created=created, job=None)
    job = image_ingest_start(
        data=data,
        probed=probed,
        provenance=provenance,
        source=source,
        source_ref=source_ref,
        uploaded_by=uploaded_by,
    )
    return ImageUploadOutcome(image=None, created=False, job=job)


def image_ingest_start(
    *,
    data: bytes,
    probed: ProbedImage,
    provenance: str,
    source: str = "",
    source_ref: str = "",
    uploaded_by: User | None = None,
) -> Job:
    """Park checked bytes in storage and queue ``annotation.image_ingest`` for them (sent on commit)."""
    from ..tasks import image_ingest_task

    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(probed.format, "img")
    params = {
        "image": sha256_hex(data),
        "provenance": provenance,
        "source": source,
        "source_ref": source_ref[:500],
        "width": probed.width,
        "height": probed.height,
    }
    name = ""
    try:
        with transaction.atomic():
            job = job_create(kind=IMAGE_INGEST_JOB_KIND, params=params, created_by=uploaded_by, total=1)
            name = default_storage.save(f"{IMAGE_UPLOADS}/{job.pk}.{extension}", ContentFile(data))
            job.params = {**params, "upload": name}
            Job.objects.filter(pk=job.pk).update(params=job.params)
            job_enqueue(job=job, task=image_ingest_task)
    except BaseException:
        if name:  # the job row was rolled back: its parked file goes too
            with contextlib.suppress(OSError):
                default_storage.delete(name)
        raise
    job.refresh_from_db()
    return job


def _parked_upload_delete(job: Job) -> None:
    name = job.params.get("upload", "")
    if name and default_storage.exists(name):
        default_storage.delete(name)


def image_ingest_run(*, job_id: int) -> dict[str, Any] | None:
    """Body of ``annotation.image_ingest``: decode, re-encode and store the parked upload (thumbnail
    included), record the image on the job, delete the parked file (also when it fails: a bad image is the
    job's error, and nothing of it is kept). A finished job is left alone (idempotent)."""
    job = Job.objects.filter(pk=job_id, kind=IMAGE_INGEST_JOB_KIND).select_related("created_by").first()
    if job is None or job.is_finished:
        return None
    name = job.params.get("upload", "")
    try:
        with job_running(job_id=job_id, total=1, message="decoding"):
            if not name or not default_storage.exists(name):
                raise ApplicationError(
                    "The parked upload is gone (the job already ended once); upload the file again.",
                    extra={"code": "upload_gone"},
                )
            with default_storage.open(name, "rb") as fh:
                data = fh.read()
            with image_files_discarded_on_error():
                image, created = image_ingest(
                    data=data,
                    provenance=job.params["provenance"],
                    source=job.params.get("source", ""),
                    source_ref=job.params.get("source_ref", ""),
                    uploaded_by=job.created_by,
                )
            result = {
                "sha256": image.sha256,
                "created": created,
                "width": image.width,
                "height": image.height,
                "format": image.format,
                "url": f"/api/images/{image.sha256}/",
            }
            job_succeed(job_id=job_id, result=result, message=f"stored {image.sha256[:12]}")
            return result
    finally:
        _parked_upload_delete(job)


def image_ingest_requeue(job: Job) -> None:
    """Resume hook: run the job again (the parked file is still there after a lost worker)."""
    from ..tasks import image_ingest_task

    job_enqueue(job=job, task=image_ingest_task)


def image_ingest_abandoned(job: Job, reason: str = "") -> None:
    """Cancel/fail hook: the parked upload is no longer needed."""
    _parked_upload_delete(job)


def image_ingest_file(
    *,
    path: Path,
    provenance: str,
    source: str = "",
    source_ref: str = "",
    uploaded_by: User | None = None,
) -> tuple[Image, bool]:
    """Register a local file (e.g. a public dataset's image) in the store without a needless copy.

    Same checks as :func:`image_ingest`. On filesystem storage the stored file is a hard link to
    ``path`` when both live on one filesystem and the bytes need no re-encoding; otherwise the bytes are
    written as usual (S3, other devices, EXIF re-orientation).
    """
    data = Path(path).read_bytes()
    existing = Image.objects.filter(original_sha256=sha256_hex(data)).first()
    if existing is not None:
        return existing, False
    decoded = image_decode(data=data)
    name = _storage_name("images", decoded.sha256, decoded.extension)
    if (
        decoded.data is data
        and isinstance(default_storage, FileSystemStorage)
        and not default_storage.exists(name)
    ):
        target = Path(default_storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        # Another filesystem, or links not allowed: image_ingest below writes the bytes instead.
        with contextlib.suppress(OSError):
            os.link(path, target)
    return image_ingest(
        data=data,
        provenance=provenance,
        source=source,
        source_ref=source_ref,
        uploaded_by=uploaded_by,
        decoded=decoded,
    )


def image_thumbnail_ensure(*, image: Image) -> bool:
    """(Re)create a missing thumbnail. Returns True when one was written."""
    if image.thumbnail and default_storage.exists(image.thumbnail.name):
        return False
    with default_storage.open(image.file.name, "rb") as fh:
        decoded = image_decode(data=fh.read())
    name = _storage_name("thumbs", image.sha256, "jpg")
    if default_storage.exists(name):
        default_storage.delete(name)
    image.thumbnail.name = default_storage.save(
        name, ContentFile(make_thumbnail(decoded.image, settings.HB_THUMBNAIL_SIZE))
    )
    image.save(update_fields=["thumbnail"])
    return True
