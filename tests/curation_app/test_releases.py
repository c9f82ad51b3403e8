"""Release build through the service/job: exports load, manifest checks, determinism, frozen splits,
immutability and a failed build leaving nothing behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from annotation.models import Image, Job
from curation.models import Release, ReleaseMember, SourceItem
from curation.release_writer import write_release
from curation.services.releases import (
    release_build,
    release_create,
    release_delete,
    release_spec,
    release_verify,
)
from humanbeauty.errors import ApplicationError, ConflictError

from .conftest import SCUT_SCORES, demo_photos, write_scut
from .factories import collected_aggregates, public_source

pytestmark = pytest.mark.django_db


def build(version: str, capture, **kw) -> Release:
    with capture(execute=True):
        release = release_create(version=version, **kw)
    release.refresh_from_db()
    return release


@pytest.fixture
def content(tmp_path):
    public_source(
        write_scut(tmp_path / "scut", SCUT_SCORES),
        kept={"astronaut.jpg", "grace-hopper.jpg", "lfw-0.jpg", "camera.jpg"},
    )
    return collected_aggregates(6)


def test_build_publishes_all_formats(
    content, researcher, admin_user, django_capture_on_commit_callbacks, tmp_path, monkeypatch
):
    with pytest.raises(ApplicationError, match="Only admins"):
        release_create(version="1.0.0", created_by=researcher)
    release = build("1.0.0", django_capture_on_commit_callbacks, created_by=admin_user, notes="first")
    assert release.status == Release.Status.PUBLISHED, release.error
    job = Job.objects.get(pk=release.job_id)
    assert job.status == Job.Status.SUCCEEDED and job.done == job.total == 100
    assert release.counts["per_part"] == {"50K": 6, "58K": 4} and release.counts["total"] == 10
    assert len(release.release_sha256) == 64 and release.content_date.endswith("T00:00:00Z")
    members = ReleaseMember.objects.filter(release=release)
    assert members.count() == 10
    m50 = members.filter(part="50K").first()
    assert len(m50.dims) == 12 and m50.mos == m50.dims[-1] and m50.n_ratings == 9 and m50.dim_n == [9] * 12
    assert m50.dims == [min(1.0, max(0.0, v)) for v in m50.psi]  # the main score is psi
    assert len(m50.dim_mos) == 12 and len(m50.psi_se) == 12 and len(m50.dim_ci) == 12
    m58 = members.get(image__source_items__native_id="astronaut.jpg")
    assert m58.mos == 1.0 and m58.source == "scut_fbp5500" and m58.dims is None
    assert release.spec["normalisation"]["scut_fbp5500"]["min"] == 2.0
    out = Path(release.path)
    manifest = json.loads((out / "release.json").read_text())
    assert manifest["release_sha256"] == release.release_sha256 and manifest["version"] == "1.0.0"

    # sha256sum -c SHA256SUMS passes in the release dir
    proc = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # images are hard links of the store, never re-encoded
    img = Image.objects.get(pk=m58.image_id)
    assert (out / "images" / f"{img.sha256}.jpg").stat().st_ino == Path(
        default_storage.path(img.file.name)
    ).stat().st_ino

    # datasets: parquet and imagefolder load offline
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    n = manifest["counts"]["per_split"]
    ds = datasets.load_dataset("parquet", data_dir=str(out / "data"), cache_dir=str(tmp_path / "c1"))
    assert sum(ds[s].num_rows for s in ds) == 10
    assert isinstance(ds[next(iter(ds))].features["image"], datasets.Image)
    ds = datasets.load_dataset(
        "imagefolder", data_dir=str(out / "imagefolder"), cache_dir=str(tmp_path / "c2")
    )
    assert {s: ds[s].num_rows for s in ds} == {s: c for s, c in n.items() if c}
    assert {"score", "image_id", "overall_psi", "overall_mos", "source"} <= set(
        ds[next(iter(ds))].column_names
    )

    # mlcroissant validate + records
    exe = Path(sys.executable).with_name("mlcroissant")
    proc = subprocess.run(
        [str(exe), "validate", "--jsonld", str(out / "croissant.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    import mlcroissant as mlc

    records = list(mlc.Dataset(jsonld=str(out / "croissant.json")).records("scores"))
    assert len(records) == 10


def test_same_content_gives_same_hash(content, django_capture_on_commit_callbacks, settings, tmp_path):
    first = build("1.0.0", django_capture_on_commit_callbacks)
    assert release_verify(release=first)["identical"] is True
    # a second, independent build of the same content (fresh releases root, same version)
    members_before = sorted(ReleaseMember.objects.values_list("image_id", "split", "mos"))
    ReleaseMember.objects.all().delete()
    Release.objects.all().delete()
    settings.RELEASES_ROOT = str(tmp_path / "other-root")
    second = build("1.0.0", django_capture_on_commit_callbacks)
    assert second.status == Release.Status.PUBLISHED
    assert second.release_sha256 == first.release_sha256
    assert sorted(ReleaseMember.objects.values_list("image_id", "split", "mos")) == members_before


def test_split_frozen_across_version_bump_and_diff(content, django_capture_on_commit_callbacks, tmp_path):
    v1 = build("1.0.0", django_capture_on_commit_callbacks)
    splits_v1 = dict(ReleaseMember.objects.filter(release=v1).values_list("image_id", "split"))
    # new content: 30 more 50K images, one public image dropped by the filter
    collected_aggregates(30, seed=5, start=100)
    SourceItem.objects.filter(native_id="camera.jpg").update(kept=False, score=None, level="")
    # even a different salt cannot move a published image's split
    v2 = build("1.1.0", django_capture_on_commit_callbacks, split_salt="another-salt", notes="more images")
    assert v2.status == Release.Status.PUBLISHED, v2.error
    assert v2.previous_id == v1.pk
    splits_v2 = dict(ReleaseMember.objects.filter(release=v2).values_list("image_id", "split"))
    for image_id, split in splits_v1.items():
        if image_id in splits_v2:
            assert splits_v2[image_id] == split
    assert v2.diff_counts["added"] == 30 and v2.diff_counts["removed"] == 1
    assert v2.diff_counts["split_moved"] == 0
    diff = json.loads((Path(v2.path) / "diff.json").read_text())
    assert diff["from"] == "1.0.0" and len(diff["added"]) == 30
    changelog = (Path(v2.path) / "CHANGELOG.md").read_text()
    assert "## 1.1.0" in changelog and "## 1.0.0" in changelog and "more images" in changelog


def test_published_release_is_immutable(content, django_capture_on_commit_callbacks):
    v1 = build("1.0.0", django_capture_on_commit_callbacks)
    sha = v1.release_sha256
    with pytest.raises(ConflictError):
        release_delete(release=v1)
    with pytest.raises(ConflictError):
        release_create(version="1.0.0")
    with pytest.raises(ConflictError):
        release_create(version="0.9.0")
    with pytest.raises(ApplicationError):
        release_create(version="v1")
    # a re-delivered build task leaves it alone; the directory is write-once
    assert release_build(release_id=v1.pk).release_sha256 == sha
    with pytest.raises(FileExistsError):
        write_release(release_spec(release=v1), [], Path(v1.path))
    v1.refresh_from_db()
    assert v1.status == Release.Status.PUBLISHED and v1.release_sha256 == sha


def test_failed_build_stays_failed_and_leaves_no_directory(
    content, django_capture_on_commit_callbacks, settings
):
    image = Image.objects.filter(source_items__native_id="astronaut.jpg").get()
    Path(default_storage.path(image.file.name)).unlink()  # the stored bytes vanished
    release = build("1.0.0", django_capture_on_commit_callbacks)
    assert release.status == Release.Status.FAILED and release.error
    assert Job.objects.get(pk=release.job_id).status == Job.Status.FAILED
    root = Path(settings.RELEASES_ROOT)
    assert not (root / "1.0.0").exists() and not (root / "1.0.0.partial").exists()
    # the version can be retried once the cause is fixed
    Path(default_storage.path(image.file.name)).parent.mkdir(parents=True, exist_ok=True)
    Path(default_storage.path(image.file.name)).write_bytes(demo_photos()["astronaut"][0])
    again = build("1.0.0", django_capture_on_commit_callbacks)
    assert again.status == Release.Status.PUBLISHED, again.error


def test_only_50k_when_no_public_source(django_capture_on_commit_callbacks):
    collected_aggregates(4)
    release = build("1.0.0", django_capture_on_commit_callbacks)
    assert release.status == Release.Status.PUBLISHED and release.counts["per_part"] == {"50K": 4}


def test_nothing_to_release_fails_cleanly(django_capture_on_commit_callbacks, settings):
    release = build("1.0.0", django_capture_on_commit_callbacks)
    assert release.status == Release.Status.FAILED and "Nothing to release" in release.error
    shutil.rmtree(settings.RELEASES_ROOT, ignore_errors=True)
