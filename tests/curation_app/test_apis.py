"""Curation API: sources and filter jobs (admins), releases, card, compare and resumable downloads."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from curation.downloads import RangeNotSatisfiable, parse_range
from curation.models import Release, Source

from .conftest import SCUT_SCORES, write_scut
from .factories import collected_aggregates, public_source

pytestmark = pytest.mark.django_db


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def published(tmp_path, django_capture_on_commit_callbacks, client_for):
    public_source(write_scut(tmp_path / "scut", SCUT_SCORES))
    collected_aggregates(3)
    client = client_for("researcher")
    refused = client.post("/api/curation/releases/", {"version": "1.0.0"}, format="json")
    assert refused.status_code == 403  # only admins publish
    admin = client_for("admin")
    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post("/api/curation/releases/", {"version": "1.0.0", "notes": "api"}, format="json")
    assert r.status_code == 202, r.content
    release = Release.objects.get(version="1.0.0")
    assert release.status == Release.Status.PUBLISHED, release.error
    client.admin = admin
    return client, release


def test_source_register_import_and_filter_via_api(tmp_path, client_for, django_capture_on_commit_callbacks):
    root = write_scut(tmp_path / "scut", {"astronaut": 4.0, "coffee": 2.0, "grace-hopper": 3.0})
    admin = client_for("admin")
    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post(
            "/api/curation/sources/",
            {"key": "scut_fbp5500", "importer": "scut_fbp5500", "root": str(root)},
            format="json",
        )
    assert r.status_code == 201, r.content
    assert r.json()["source"]["key"] == "scut_fbp5500"
    listed = admin.get("/api/curation/sources/").json()
    assert listed[0]["n_items"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post("/api/curation/sources/scut_fbp5500/filter/", {"chunk_size": 1}, format="json")
    assert r.status_code == 202
    detail = admin.get("/api/curation/sources/scut_fbp5500/").json()
    assert detail["filter"]["filtered"] == 3 and detail["filter"]["kept"] == 2
    assert detail["n_scored"] == 2 and {j["kind"] for j in detail["jobs"]} == {
        "curation.import",
        "curation.filter",
    }
    bad = admin.post(
        "/api/curation/sources/", {"key": "x", "importer": "nope", "root": str(root)}, format="json"
    )
    assert bad.status_code == 400 and set(bad.json()) == {"message", "extra"}
    assert admin.post("/api/curation/sources/nope/filter/", {}, format="json").status_code == 404
    assert Source.objects.count() == 1


def test_release_list_detail_card_compare(published, django_capture_on_commit_callbacks):
    client, release = published
    rows = client.get("/api/curation/releases/").json()
    assert rows[0]["version"] == "1.0.0" and rows[0]["status"] == "published"
    detail = client.get("/api/curation/releases/1.0.0/").json()
    assert detail["release_sha256"] == release.release_sha256
    assert {"README.md", "SHA256SUMS", "data/", "images/", "stats/"} <= set(detail["files"])
    card = client.get("/api/curation/releases/1.0.0/card/").json()
    assert card["markdown"].startswith("---") and "stats/levels.png" in card["plots"]
    png = client.get("/api/curation/releases/1.0.0/files/stats/levels.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and _body(png)[:4] == b"\x89PNG"
    admin = client.admin
    # nothing changed: refused with a clear message unless forced; the preview says why
    preview = admin.get("/api/curation/releases/preview/").json()
    assert preview["changed"] is False and preview["summary"] == {"added": 0, "removed": 0, "relabelled": 0}
    same = admin.post("/api/curation/releases/", {"version": "1.0.1"}, format="json")
    assert same.status_code == 409 and "Nothing changed since 1.0.0" in same.json()["message"]
    assert client.get("/api/curation/releases/preview/").status_code == 403
    collected_aggregates(2, seed=9, start=50)
    preview = admin.get("/api/curation/releases/preview/").json()
    assert preview["changed"] is True and preview["summary"]["added"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post("/api/curation/releases/", {"version": "1.0.1"}, format="json").status_code == 202
    cmp = client.get("/api/curation/releases/1.0.0/compare/1.0.1/").json()
    assert cmp["from"] == "1.0.0" and cmp["summary"]["added"] == 2 and cmp["summary"]["split_moved"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        forced = admin.post("/api/curation/releases/", {"version": "1.0.2", "force": True}, format="json")
        assert forced.status_code == 202, forced.content
        # the level rule is a release option: changing it alone is a change
        upper = admin.post(
            "/api/curation/releases/", {"version": "1.0.3", "level_rule": "upper_inclusive"}, format="json"
        )
        assert upper.status_code == 202, upper.content
    assert Release.objects.get(version="1.0.2").status == Release.Status.PUBLISHED
    assert Release.objects.get(version="1.0.3").level_rule == "upper_inclusive"
    bad = admin.post("/api/curation/releases/", {"version": "1.0.4", "level_rule": "middle"}, format="json")
    assert bad.status_code == 400
    conflict = admin.post("/api/curation/releases/", {"version": "1.0.1", "force": True}, format="json")
    assert conflict.status_code == 409 and set(conflict.json()) == {"message", "extra"}
    assert client.get("/api/curation/releases/9.9.9/").status_code == 404


def test_download_ranges(published):
    client, release = published
    path = "scores.csv"
    data = (Path(release.path) / path).read_bytes()
    size = len(data)
    url = f"/api/curation/releases/1.0.0/files/{path}"

    full = client.get(url)
    assert full.status_code == 200 and _body(full) == data
    assert full["Accept-Ranges"] == "bytes" and int(full["Content-Length"]) == size
    assert full["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'

    part = client.get(url, HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and _body(part) == data[:10]
    assert part["Content-Range"] == f"bytes 0-9/{size}" and part["Content-Length"] == "10"
    assert part["Accept-Ranges"] == "bytes"

    tail = client.get(url, HTTP_RANGE="bytes=-7")
    assert tail.status_code == 206 and _body(tail) == data[-7:]
    assert tail["Content-Range"] == f"bytes {size - 7}-{size - 1}/{size}"

    resume = client.get(url, HTTP_RANGE=f"bytes={size - 5}-")
    assert resume.status_code == 206 and _body(resume) == data[-5:]
    clipped = client.get(url, HTTP_RANGE=f"bytes=3-{size + 100}")
    assert clipped.status_code == 206 and _body(clipped) == data[3:]

    for bad in (f"bytes={size}-", "bytes=9-3", "bytes=-0", "bytes=abc"):
        r = client.get(url, HTTP_RANGE=bad)
        assert r.status_code == 416, bad
        assert r["Content-Range"] == f"bytes */{size}"

    # If-Range with a stale validator: the whole (changed) file instead of a wrong slice
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"0000"')
    assert stale.status_code == 200 and _body(stale) == data
    fresh = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=full["ETag"])
    assert fresh.status_code == 206
    # any Accept header works for downloads
    assert client.get(url, HTTP_ACCEPT="application/octet-stream").status_code == 200

    # an image by its manifest path, resumed in two halves, matches its sha256 (= image id)
    image_rel = next(p for p in (Path(release.path) / "images").iterdir()).name
    iurl = f"/api/curation/releases/1.0.0/files/images/{image_rel}"
    first = _body(client.get(iurl, HTTP_RANGE="bytes=0-999"))
    rest = _body(client.get(iurl, HTTP_RANGE="bytes=1000-"))
    assert hashlib.sha256(first + rest).hexdigest() == image_rel.split(".")[0]


def test_download_never_escapes_the_release(published, settings):
    client, _release = published
    secret = Path(settings.RELEASES_ROOT) / "secret.txt"
    secret.write_text("no")
    for p in (
        "../secret.txt",
        "..%2Fsecret.txt",
        "images/../../secret.txt",
        "/etc/passwd",
        "nope.txt",
        "images/",
    ):
        r = client.get(f"/api/curation/releases/1.0.0/files/{p}")
        assert r.status_code == 404, p
    assert client.get("/api/curation/releases/1.0.0/files/SHA256SUMS").status_code == 200
    # unauthenticated: 401; volunteers: 403
    from rest_framework.test import APIClient

    assert APIClient().get("/api/curation/releases/1.0.0/files/scores.csv").status_code == 401


def test_archive_streams_a_tar_that_verifies(published, tmp_path):
    client, _release = published
    r = client.get("/api/curation/releases/1.0.0/archive/")
    assert r.status_code == 200 and r["Content-Type"] == "application/x-tar" and r.streaming
    with tarfile.open(fileobj=io.BytesIO(_body(r))) as tar:
        tar.extractall(tmp_path / "x", filter="tar")
        members = tar.getmembers()
    root = tmp_path / "x" / "HumanBeauty-1.0.0"
    import subprocess

    proc = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert any(m.islnk() for m in members)  # hard-linked image copies stored once


def test_unpublished_release_is_not_served(client_for):
    Release.objects.create(version="2.0.0", split_salt="s", content_date="")
    client = client_for("admin")
    assert client.get("/api/curation/releases/2.0.0/card/").status_code == 409
    assert client.get("/api/curation/releases/2.0.0/files/README.md").status_code == 409


def test_parse_range_unit():
    assert parse_range("", 10) is None and parse_range("items=0-1", 10) is None
    assert parse_range("bytes=0-1,3-4", 10) is None
    assert parse_range("bytes=2-", 10) == (2, 9) and parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=-30", 10) == (0, 9)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=10-", 10)
