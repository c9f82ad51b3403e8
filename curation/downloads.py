"""Serving release files: resumable single-file downloads (HTTP Range, RFC 9110 §14) and a streamed tar.

Only paths listed in the release's ``SHA256SUMS`` (plus ``SHA256SUMS`` itself and ``release.json``) are
served, so no request can name a file outside the release directory; the resolved path is checked to lie
inside it as well (defence in depth against symlinks). The ETag of a file is its SHA-256 from the
manifest, which also makes ``If-Range`` exact.
"""

from __future__ import annotations

import mimetypes
import os
import re
import tarfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

CHUNK = 256 * 1024
EXTRA_FILES = ("SHA256SUMS", "release.json")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    pass


@lru_cache(maxsize=8)
def _manifest_cached(sums_path: str, mtime_ns: int, size: int) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(sums_path, encoding="utf-8") as fh:
        for line in fh:
            digest, _, rel = line.rstrip("\n").partition("  ")
            if rel:
                out[rel] = digest
    return out


def release_manifest(release_dir: Path) -> dict[str, str]:
    """relative path -> sha256 for every file of the release (parsed SHA256SUMS, cached per file version)."""
    sums = Path(release_dir) / "SHA256SUMS"
    st = sums.stat()
    return _manifest_cached(str(sums), st.st_mtime_ns, st.st_size)


def resolve_release_file(release_dir: Path, rel: str) -> tuple[Path, str | None] | None:
    """(absolute path, sha256 or None) of a listed file, or None (unknown path or outside the release)."""
    release_dir = Path(release_dir).resolve()
    rel = rel.strip("/")
    manifest = release_manifest(release_dir)
    if rel not in manifest and rel not in EXTRA_FILES:
        return None
    path = (release_dir / rel).resolve()
    if release_dir not in path.parents or not path.is_file():
        return None
    return path, manifest.get(rel)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range ``bytes=a-b`` / ``a-`` / ``-n`` → inclusive (start, end); None = serve the whole file
    (no header, another unit, or several ranges). Raises RangeNotSatisfiable for a bad or unsatisfiable one."""
    header = (header or "").strip()
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None  # multipart/byteranges not supported: a full 200 is a valid answer
    m = _RANGE.match("bytes=" + spec.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        raise RangeNotSatisfiable(header)
    first, last = m.group(1), m.group(2)
    if first == "":  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable(header)
    return start, end


def _iter_file(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        left = length
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def file_response(
    request: HttpRequest, path: Path, sha256: str | None, *, download_name: str
) -> HttpResponse:
    """200 with the whole file, 206 with one range, or 416; always ``Accept-Ranges: bytes``."""
    size = path.stat().st_size
    etag = f'"{sha256}"' if sha256 else None
    ctype = mimetypes.guess_type(download_name)[0] or "application/octet-stream"
    rng = None
    if_range = request.headers.get("If-Range")
    if not if_range or (etag and if_range.strip() == etag):
        try:
            rng = parse_range(request.headers.get("Range", ""), size)
        except RangeNotSatisfiable:
            resp = HttpResponse(status=416)
            resp["Content-Range"] = f"bytes */{size}"
            resp["Accept-Ranges"] = "bytes"
            return resp
    if rng is None:
        resp = StreamingHttpResponse(_iter_file(path, 0, size), content_type=ctype, status=200)
        resp["Content-Length"] = str(size)
    else:
        start, end = rng
        resp = StreamingHttpResponse(_iter_file(path, start, end - start + 1), content_type=ctype, status=206)
        resp["Content-Length"] = str(end - start + 1)
        resp["Content-Range"] = f"bytes {start}-{end}/{size}"
    resp["Accept-Ranges"] = "bytes"
    if etag:
        resp["ETag"] = etag
    resp["Cache-Control"] = "private, max-age=31536000, immutable"
    inline = ctype.startswith(("image/", "text/")) or ctype == "application/json"
    resp["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{download_name}"'
    return resp


class _Pipe:
    """A write-only file object whose writes are collected and drained by the generator below."""

    def __init__(self) -> None:
        self.buf: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.buf.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self.buf)
        self.buf.clear()
        return out


def iter_tar(release_dir: Path, prefix: str) -> Iterator[bytes]:
    """Stream the whole release as an uncompressed tar (files in manifest order under ``prefix/``).
    Hard-linked copies of an image are stored as tar hard links, so every image's bytes go once."""
    release_dir = Path(release_dir)
    names = sorted(release_manifest(release_dir)) + list(EXTRA_FILES)
    pipe = _Pipe()
    with tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in names:
            full = release_dir / rel
            info = tar.gettarinfo(str(full), arcname=f"{prefix}/{rel}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with full.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
            if sum(map(len, pipe.buf)) >= CHUNK:
                yield pipe.drain()
    yield pipe.drain()


def tar_response(release_dir: Path, version: str) -> StreamingHttpResponse:
    resp = StreamingHttpResponse(
        iter_tar(release_dir, f"HumanBeauty-{version}"), content_type="application/x-tar"
    )
    resp["Content-Disposition"] = f'attachment; filename="HumanBeauty-{version}.tar"'
    return resp


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.stat(os.path.join(root, f)).st_size
    return total
