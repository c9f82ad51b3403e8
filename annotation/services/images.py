"""Writes to the content-addressed image store."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction

from humanbeauty.errors import ApplicationError

from ..imaging import DecodedImage, ImageRejected, decode_image, make_thumbnail, sha256_hex
from ..models import Image, User


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


def image_decode(*, data: bytes) -> DecodedImage:
    """Decode with the configured limits; raise ApplicationError (400/413) with a clear message."""
    try:
        return decode_image(
            data,
            max_bytes=settings.HB_IMAGE_MAX_BYTES,
            max_pixels=settings.HB_IMAGE_MAX_PIXELS,
            formats=settings.HB_IMAGE_FORMATS,
        )
    except ImageRejected as exc:
        status = 413 if exc.code == "too_large" else 400
        raise ApplicationError(str(exc), extra={"code": exc.code}, status=status) from exc


def image_ingest(
    *,
    data: bytes,
    provenance: str,
    source: str = "",
    source_ref: str = "",
    uploaded_by: User | None = None,
    decoded: DecodedImage | None = None,
) -> tuple[Image, bool]:
    """Store ``data`` once; return ``(image, created)``. The same bytes always give the same image.

    Nothing is stored for rejected bytes. Storage writes happen before the row exists, and are
    idempotent (same name, same bytes), so a crash between the two leaves no dangling row.
    """
    existing = Image.objects.filter(original_sha256=sha256_hex(data)).first()
    if existing is not None:
        return existing, False
    decoded = decoded or image_decode(data=data)
    existing = Image.objects.filter(sha256=decoded.sha256).first()
    if existing is not None:
        return existing, False
    name = _storage_name("images", decoded.sha256, decoded.extension)
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(decoded.data))
    thumb_name = _storage_name("thumbs", decoded.sha256, "jpg")
    if not default_storage.exists(thumb_name):
        thumb_name = default_storage.save(
            thumb_name, ContentFile(make_thumbnail(decoded.image, settings.HB_THUMBNAIL_SIZE))
        )
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
