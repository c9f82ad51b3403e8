"""Defensive image decoding (no Django): what may enter the image store.

Checks, in order: byte-size limit, the magic bytes of an allowed format, Pillow identifies the bytes as
that format, the declared pixel count is under the decompression-bomb limit (read from the header, before
decoding) — :func:`probe_image`, cheap enough to run in a web process before anything is stored — then
a full decode (catches truncated files). EXIF orientation is applied so stored images are upright.

Uploads are stored re-encoded (``reencode=True``): only the decoded pixels (and the ICC colour profile)
survive, so trailing payloads, comment segments and metadata (a JPEG+HTML+ZIP polyglot, GPS EXIF) are
never stored or served back verbatim. A JPEG keeps its quantisation tables and subsampling
(``quality="keep"``), so it looks the same; PNG is lossless; WebP is re-encoded at quality 95.
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
class ProbedImage:
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class DecodedImage:
    data: bytes  # the bytes to store (the upload, or its re-encoding)
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


# Leading bytes of the formats Pillow may be asked to open. Anything else is refused before Pillow sees
# it (Pillow would otherwise try each of its plugins in turn).
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "WEBP": (b"RIFF",),  # and "WEBP" at offset 8
    "GIF": (b"GIF87a", b"GIF89a"),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "BMP": (b"BM",),
}


def _sniff(data: bytes) -> str:
    for fmt, prefixes in _MAGIC.items():
        if data.startswith(prefixes) and (fmt != "WEBP" or data[8:12] == b"WEBP"):
            return fmt
    return ""


def probe_image(
    data: bytes, *, max_bytes: int, max_pixels: int, formats: list[str] | tuple[str, ...]
) -> ProbedImage:
    """The cheap checks, no pixel decoding: size, magic bytes, format allow-list, declared pixels."""
    if not data:
        raise ImageRejected("The file is empty.", "empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.", "too_large"
        )
    sniffed = _sniff(data)
    if not sniffed:
        raise ImageRejected("The file is not an image Pillow can read.", "not_an_image")
    if sniffed not in formats:
        raise ImageRejected(f"Format {sniffed} is not allowed; allowed: {', '.join(formats)}.", "format")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=[sniffed])
            width, height = probe.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageRejected("The file is not an image Pillow can read.", "not_an_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            "The image declares too many pixels (decompression bomb guard).", "too_many_pixels"
        ) from exc
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}.",
            "too_many_pixels",
        )
    return ProbedImage(format=sniffed, width=width, height=height)


def _reencode(original: Image.Image, upright: Image.Image, fmt: str, rotated: bool) -> bytes:
    buf = io.BytesIO()
    icc = original.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        if not rotated and original.mode in ("RGB", "L", "CMYK"):
            original.save(buf, format="JPEG", quality="keep", subsampling="keep", **extra)
        else:
            mode = upright.mode if upright.mode in ("L", "RGB") else "RGB"
            upright.convert(mode).save(buf, format="JPEG", quality=95, **extra)
    elif fmt == "WEBP":
        upright.save(buf, format="WEBP", quality=95, method=4, **extra)
    else:
        upright.save(buf, format=fmt, **extra)
    return buf.getvalue()


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    formats: list[str] | tuple[str, ...],
    reencode: bool = False,
) -> DecodedImage:
    fmt = probe_image(data, max_bytes=max_bytes, max_pixels=max_pixels, formats=formats).format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
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
    rotated = orientation not in (1, None)
    stored = data
    if reencode:
        stored = _reencode(img, upright, fmt, rotated)
    elif rotated:
        buf = io.BytesIO()
        if fmt == "JPEG":
            rgb.save(buf, format="JPEG", quality=95)
        else:
            upright.save(buf, format=fmt)
        stored = buf.getvalue()
    return DecodedImage(
        data=stored,
        sha256=sha256_hex(stored),
        original_sha256=sha256_hex(data),
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
