"""Writes to the content-addressed image store."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
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
from ..models import Image, User

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
