"""The content-addressed image store: defensive decoding, dedup, EXIF, thumbnails, API errors."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotation.models import Image
from annotation.services.images import image_ingest
from humanbeauty.errors import ApplicationError
from tests.conftest import jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A small PNG whose header declares width*height pixels (zeros compress to almost nothing)."""
    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(1))  # one row is enough for the header check

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _gif() -> bytes:
    buf = io.BytesIO()
    PILImage.new("P", (8, 8)).save(buf, format="GIF")
    return buf.getvalue()


def test_same_bytes_are_the_same_image() -> None:
    data = jpeg_bytes(seed=1)
    first, created1 = image_ingest(data=data, provenance="public", source="t")
    second, created2 = image_ingest(data=data, provenance="public", source="t")
    assert created1 and not created2
    assert first.pk == second.pk
    assert Image.objects.count() == 1
    assert first.width == 64 and first.height == 48 and first.format == "JPEG"
    assert default_storage.exists(first.file.name) and default_storage.exists(first.thumbnail.name)


def test_exif_orientation_is_applied_and_reupload_still_dedups() -> None:
    img = PILImage.new("RGB", (80, 40), (200, 10, 10))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° CW on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    data = buf.getvalue()
    image, created = image_ingest(data=data, provenance="collected")
    assert created
    assert (image.width, image.height) == (40, 80)  # upright
    assert image.original_sha256 != image.sha256
    again, created_again = image_ingest(data=data, provenance="collected")
    assert not created_again and again.pk == image.pk


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (b"", "empty", 400),
        (b"this is not an image at all", "not_an_image", 400),
        (jpeg_bytes(seed=2)[:1500], "corrupt", 400),
        (_bomb_png(), "too_many_pixels", 400),
        (_gif(), "format", 400),
    ],
    ids=["empty", "text", "truncated", "bomb", "gif-not-allowed"],
)
def test_bad_bytes_are_rejected_and_nothing_is_stored(data: bytes, code: str, status: int) -> None:
    with pytest.raises(ApplicationError) as err:
        image_ingest(data=data, provenance="public")
    assert err.value.extra["code"] == code, err.value.message
    assert err.value.status == status
    assert Image.objects.count() == 0


def test_byte_limit(settings) -> None:
    settings.HB_IMAGE_MAX_BYTES = 1000
    with pytest.raises(ApplicationError) as err:
        image_ingest(data=jpeg_bytes(200, 200, seed=3), provenance="public")
    assert err.value.status == 413


def _upload(client, data: bytes, name: str = "x.jpg"):
    return client.post(
        "/api/images/",
        {"file": SimpleUploadedFile(name, data), "provenance": "public", "source": "t"},
        format="multipart",
    )


def test_api_upload_and_dedup(client_for) -> None:
    client = client_for("admin")
    r1 = _upload(client, png_bytes(seed=4), "a.png")
    assert r1.status_code == 201, r1.json()
    r2 = _upload(client, png_bytes(seed=4), "b.png")
    assert r2.status_code == 200 and r2.json()["sha256"] == r1.json()["sha256"]
    thumb = client.get(f"/api/images/{r1.json()['sha256']}/thumb/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        (b"%PDF-1.4 not an image", 400, "not an image"),
        (jpeg_bytes(seed=5)[:1500], 400, "truncated"),
        (_bomb_png(), 400, "decompression bomb"),
    ],
    ids=["not-image", "truncated", "bomb"],
)
def test_api_bad_uploads_get_clear_4xx_and_store_nothing(
    client_for, data: bytes, status: int, needle: str
) -> None:
    r = _upload(client_for("admin"), data)
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"message", "extra"}
    assert needle in body["message"].lower() or needle in body["message"]
    assert Image.objects.count() == 0


def test_api_over_size_limit(client_for, settings) -> None:
    settings.HB_IMAGE_MAX_BYTES = 2000
    r = _upload(client_for("admin"), jpeg_bytes(300, 300, seed=6))
    assert r.status_code == 413
    assert "limit" in r.json()["message"]
    assert Image.objects.count() == 0


def _stored(prefix: str) -> list[str]:
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.MEDIA_ROOT) / prefix
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_polyglot_is_stored_re_encoded_without_its_payload(client_for) -> None:
    """JPEG + HTML + ZIP in one file: the store keeps the pixels, never the bytes as sent."""
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    zip_end = b"PK\x05\x06" + b"\0" * 18
    polyglot = jpeg_bytes(96, 64, seed=9) + html + zip_end
    response = _upload(client_for("admin"), polyglot, "photo.jpg")
    assert response.status_code == 201, response.content
    image = Image.objects.get(sha256=response.json()["sha256"])
    with default_storage.open(image.file.name, "rb") as fh:
        stored = fh.read()
    assert b"<script>" not in stored and b"PK\x05\x06" not in stored
    assert stored.startswith(b"\xff\xd8") and stored.endswith(b"\xff\xd9")
    assert PILImage.open(io.BytesIO(stored)).size == (96, 64)
    # The same upload again, or the stored bytes themselves, are the same image.
    assert _upload(client_for("admin"), polyglot).json()["sha256"] == image.sha256
    assert image_ingest(data=stored, provenance="public")[0].pk == image.pk


def test_re_encoding_keeps_jpeg_quality_and_drops_metadata() -> None:
    exif = PILImage.Exif()
    exif[0x8825] = {1: "N"}  # a GPS block
    buf = io.BytesIO()
    PILImage.open(io.BytesIO(jpeg_bytes(64, 48, seed=10, quality=80))).save(
        buf, format="JPEG", quality=80, exif=exif.tobytes()
    )
    image, _ = image_ingest(data=buf.getvalue(), provenance="collected")
    with default_storage.open(image.file.name, "rb") as fh:
        stored = PILImage.open(io.BytesIO(fh.read()))
    original = PILImage.open(io.BytesIO(buf.getvalue()))
    assert stored.quantization == original.quantization  # same tables: no generation loss to speak of
    assert not stored.getexif()


def test_a_failed_gold_import_leaves_no_files(admin_user) -> None:
    from annotation.models import Standard
    from annotation.qualification.services.gold import gold_bank_import

    standard = Standard.objects.get(key="humanbeauty-v1")
    rows = [{"line": 2, "image": "a.jpg", "mean": {}}]
    with pytest.raises(ApplicationError, match="Gold row 2"):
        gold_bank_import(standard=standard, rows=rows, files={"a.jpg": jpeg_bytes(seed=11)})
    assert Image.objects.count() == 0
    assert _stored("images") == [] and _stored("thumbs") == []


def test_the_image_api_refuses_svg_and_text_named_jpg(client_for) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for data in (svg, b"hello, I am a .jpg"):
        response = _upload(client_for("admin"), data, "x.jpg")
        assert response.status_code == 400 and response.json()["extra"]["code"] == "not_an_image"
    assert Image.objects.count() == 0 and _stored("images") == []


def test_a_big_upload_is_decoded_by_a_queued_job_not_in_the_request(
    client_for, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """Above HB_IMAGE_SYNC_MAX_PIXELS the request only reads the header and parks the bytes (202 + job);
    the decode, re-encode and thumbnail happen in the job, which stores the image and deletes the park."""
    from annotation.services import images as images_service

    settings.HB_IMAGE_SYNC_MAX_PIXELS = 96 * 64 - 1
    decodes: list[int] = []
    real_decode = images_service.decode_image

    def counting_decode(data: bytes, **kwargs):
        decodes.append(len(data))
        return real_decode(data, **kwargs)

    monkeypatch.setattr(images_service, "decode_image", counting_decode)
    data = jpeg_bytes(96, 64, seed=21)
    admin = client_for("admin")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _upload(admin, data, "big.jpg")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "annotation.image_ingest" and job["status"] == "pending"
    assert response["Location"] == f"/api/jobs/{job['id']}/"
    assert decodes == [] and Image.objects.count() == 0  # nothing decoded or stored while answering
    assert _stored("image-uploads") == [f"{job['id']}.jpg"]
    assert len(callbacks) == 1
    callbacks[0]()  # the worker (eager here) runs the job
    done = admin.get(f"/api/jobs/{job['id']}/").json()
    assert done["status"] == "succeeded", done
    assert decodes == [len(data)]
    image = Image.objects.get(sha256=done["result"]["sha256"])
    assert (image.width, image.height, image.source, image.source_ref) == (96, 64, "t", "big.jpg")
    assert image.uploaded_by is not None and image.uploaded_by.is_platform_admin
    assert default_storage.exists(image.file.name) and default_storage.exists(image.thumbnail.name)
    assert _stored("image-uploads") == []
    # The same bytes again are found, not queued again.
    again = _upload(admin, data, "big.jpg")
    assert again.status_code == 200 and again.json()["sha256"] == image.sha256


def test_a_big_upload_that_fails_to_decode_is_a_job_error_and_leaves_no_files(
    client_for, settings, django_capture_on_commit_callbacks
) -> None:
    settings.HB_IMAGE_SYNC_MAX_PIXELS = 100
    truncated = jpeg_bytes(96, 64, seed=22)[:1500]  # a valid header: passes the request's cheap checks
    admin = client_for("admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(admin, truncated, "cut.jpg")
    assert response.status_code == 202, response.content
    job = admin.get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "failed" and "truncated" in job["message"], job
    assert Image.objects.count() == 0
    assert _stored("image-uploads") == [] and _stored("images") == [] and _stored("thumbs") == []


def test_cheap_checks_still_refuse_big_bad_files_in_the_request(client_for, settings) -> None:
    settings.HB_IMAGE_SYNC_MAX_PIXELS = 100
    response = _upload(client_for("admin"), _bomb_png(), "bomb.png")
    assert response.status_code == 400 and "decompression bomb" in response.json()["message"].lower()
    from annotation.models import Job

    assert not Job.objects.exists() and _stored("image-uploads") == []


def test_a_parked_upload_resumes_after_a_lost_worker_and_a_cancel_deletes_it(
    admin_user, settings, django_capture_on_commit_callbacks
) -> None:
    from annotation.models import Job
    from annotation.services.images import image_upload
    from annotation.services.jobs import job_cancel, job_resume

    settings.HB_IMAGE_SYNC_MAX_PIXELS = 100
    # Queued but its worker died before running it (the message is lost): resume runs it.
    with django_capture_on_commit_callbacks(execute=False):
        lost = image_upload(data=jpeg_bytes(96, 64, seed=23), provenance="public", uploaded_by=admin_user).job
    assert lost is not None and _stored("image-uploads") == [f"{lost.pk}.jpg"]
    Job.objects.filter(pk=lost.pk).update(status=Job.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        job_resume(job=Job.objects.get(pk=lost.pk), force=True)
    lost.refresh_from_db()
    assert lost.status == Job.Status.SUCCEEDED and Image.objects.filter(sha256=lost.result["sha256"]).exists()
    # Cancelled before a worker took it: the parked bytes go, nothing is stored.
    with django_capture_on_commit_callbacks(execute=False):
        dropped = image_upload(
            data=png_bytes(40, 40, seed=24), provenance="public", uploaded_by=admin_user
        ).job
    assert dropped is not None
    job_cancel(job=dropped)
    assert _stored("image-uploads") == [] and Image.objects.count() == 1
