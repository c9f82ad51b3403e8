"""Defensive image decoding (no Django): what may enter the image store.

Checks, in order: byte-size limit, Pillow can identify the bytes, the format is on the allow-list, the
declared pixel count is under the decompression-bomb limit (checked from the header, before decoding),
then a full decode (catches truncated files). EXIF orientation is applied so stored images are upright.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError


class ImageRejected(ValueError):
    """The bytes are not an acceptable image; ``code`` is a stable machine-readable reason."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DecodedImage:
    data: bytes  # the bytes to store (the upload, or its upright re-encoding)
    sha256: str  # of ``data``
    original_sha256: str  # of the uploaded bytes
    width: int
    height: int
    format: str  # Pillow format name, e.g. "JPEG"
    image: Image.Image  # decoded, upright, RGB

    @property
    def extension(self) -> str:
        return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(self.format, self.format.lower())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, formats: list[str] | tuple[str, ...]
) -> DecodedImage:
    if not data:
        raise ImageRejected("The file is empty.", "empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.", "too_large"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            fmt = probe.format or ""
            width, height = probe.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageRejected("The file is not an image Pillow can read.", "not_an_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            "The image declares too many pixels (decompression bomb guard).", "too_many_pixels"
        ) from exc
    if fmt not in formats:
        raise ImageRejected(
            f"Format {fmt or 'unknown'} is not allowed; allowed: {', '.join(formats)}.", "format"
        )
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}.",
            "too_many_pixels",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()  # full decode: raises on truncated data
            orientation = img.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(img)
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ImageRejected(
            f"The image could not be decoded (truncated or corrupt): {exc}", "corrupt"
        ) from exc
    rgb = upright.convert("RGB")
    original_sha = sha256_hex(data)
    stored = data
    if orientation not in (1, None):
        buf = io.BytesIO()
        if fmt == "JPEG":
            rgb.save(buf, format="JPEG", quality=95)
        else:
            upright.save(buf, format=fmt)
        stored = buf.getvalue()
    return DecodedImage(
        data=stored,
        sha256=sha256_hex(stored),
        original_sha256=original_sha,
        width=rgb.width,
        height=rgb.height,
        format=fmt,
        image=rgb,
    )


def make_thumbnail(image: Image.Image, size: int) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()
