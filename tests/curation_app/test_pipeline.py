"""Import → filter → normalise through the services and eager Celery jobs (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from annotation.models import Image, Job
from curation.models import FaceDetection, Source, SourceItem
from curation.services.filtering import filter_params, filter_start
from curation.services.normalisation import source_normalise
from curation.services.sources import source_import, source_import_start, source_register
from humanbeauty.errors import ApplicationError, ConflictError

from .conftest import SCUT_SCORES, write_csv_source

pytestmark = pytest.mark.django_db


def _register(scut_root, **kw) -> Source:
    return source_register(key="scut_fbp5500", importer="scut_fbp5500", root=str(scut_root), **kw)


def test_import_job_records_rows_and_skips_and_is_idempotent(scut_root, django_capture_on_commit_callbacks):
    source = _register(scut_root)
    assert (source.score_min, source.score_max, source.kind) == (1.0, 5.0, "natural")
    with django_capture_on_commit_callbacks(execute=True):
        job = source_import_start(source=source)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    r = job.result
    assert (r["read"], r["kept"], r["created"], r["skipped"]) == (9, 6, 6, 3)
    reasons = " | ".join(s["reason"] for s in r["skipped_rows"])
    assert "missing" in reasons and "duplicate" in reasons and "unparsable" in reasons
    assert SourceItem.objects.filter(source=source).count() == 6
    img = Image.objects.get(source_items__native_id="astronaut.jpg")
    assert img.provenance == "public" and img.source == "scut_fbp5500" and img.source_ref == "astronaut.jpg"
    # stored without a copy: the store file is a hard link of the dataset file
    stored = default_storage.path(img.file.name)
    assert (scut_root / "Images" / "astronaut.jpg").stat().st_ino == __import__("os").stat(stored).st_ino

    again = source_import(source=source)
    assert (again["created"], again["unchanged"], again["updated"]) == (0, 6, 0)
    assert SourceItem.objects.filter(source=source).count() == 6
    # same registration twice is a no-op, another folder under the same key is a conflict
    assert _register(scut_root).pk == source.pk
    with pytest.raises(ConflictError):
        source_register(key="scut_fbp5500", importer="scut_fbp5500", root=str(scut_root.parent))


def test_register_rejects_unknown_importer_and_bad_root(tmp_path):
    with pytest.raises(ApplicationError):
        source_register(key="x", importer="nope", root=str(tmp_path))
    with pytest.raises(ApplicationError):
        source_register(key="x", importer="ava", root="relative/path")
    with pytest.raises(ApplicationError):  # generic CSV needs a score range
        source_register(key="x", importer="csv", root=str(tmp_path))


def test_generic_csv_source(tmp_path):
    root = write_csv_source(tmp_path / "lapis", {"astronaut": 70, "coffee": 20, "grace-hopper": 55})
    source = source_register(key="lapis", importer="csv", root=str(root), options={"score_range": [0, 100]})
    res = source_import(source=source)
    assert (res["created"], res["skipped"]) == (3, 0)


def _run_filter(source_keys, capture, **kw) -> Job:
    with capture(execute=True):
        job = filter_start(source_keys=source_keys, chunk_size=2, **kw)
    job.refresh_from_db()
    return job


def test_filter_job_keeps_single_faces_records_corrupt_files_and_reruns_only_missing(
    scut_root, django_capture_on_commit_callbacks
):
    source = _register(scut_root)
    source_import(source=source)
    # corrupt one stored file after import: the job records it and goes on
    bad = Image.objects.get(source_items__native_id="camera.jpg")
    path = default_storage.path(bad.file.name)
    __import__("os").unlink(path)  # break the hard link first: never corrupt the dataset's own file
    with open(path, "wb") as fh:
        fh.write(b"not a jpeg at all")

    job = _run_filter(["scut_fbp5500"], django_capture_on_commit_callbacks)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.done, job.total) == (6, 6)
    version = filter_params()["detector_version"]
    dets = {d.image.source_items.get().native_id: d for d in FaceDetection.objects.select_related("image")}
    assert len(dets) == 6
    assert (
        dets["camera.jpg"].error and not dets["camera.jpg"].kept and dets["camera.jpg"].reason == "unreadable"
    )
    for name in ("astronaut.jpg", "grace-hopper.jpg"):
        d = dets[name]
        assert d.kept and d.face_count >= 1 and d.detector_version == version
        assert {"box", "score", "landmarks"} <= set(d.faces[0]) and len(d.faces[0]["landmarks"]) == 5
        assert d.thresholds == {"confidence": 0.9, "min_face_size_px": 32.0, "nms": 0.4, "max_size": 1024}
    for name in ("coffee.jpg", "rocket.jpg"):
        assert not dets[name].kept and dets[name].face_count == 0
    assert job.result["errors"] == 1 and job.result["kept"] == sum(d.kept for d in dets.values())

    # normalisation ran at the end of the job: min-max over kept items only
    items = {i.native_id: i for i in SourceItem.objects.filter(source=source)}
    kept = [i for i in items.values() if i.kept]
    assert {i.score for i in kept} >= {0.0, 1.0} or len(kept) == 1
    assert all(i.score is None and i.level == "" for i in items.values() if not i.kept)
    raw = [i.raw_score for i in kept]
    for i in kept:
        assert i.score == pytest.approx((i.raw_score - min(raw)) / (max(raw) - min(raw)))
    source.refresh_from_db()
    assert source.normalisation["min"] == min(raw) and source.normalisation["max"] == max(raw)

    # re-run: nothing missing, nothing inserted twice
    before = set(FaceDetection.objects.values_list("pk", flat=True))
    job2 = _run_filter(["scut_fbp5500"], django_capture_on_commit_callbacks)
    assert job2.status == Job.Status.SUCCEEDED
    assert set(FaceDetection.objects.values_list("pk", flat=True)) == before

    # new images added to the source: only those are processed
    with open(scut_root / "train_test_files" / "All_labels.txt", "a") as fh:
        fh.write("astronaut-mirror.jpg 3.0\n")
    from .conftest import demo_photos

    (scut_root / "Images" / "astronaut-mirror.jpg").write_bytes(demo_photos()["astronaut-mirror"][0])
    source_import(source=source)
    job3 = _run_filter(["scut_fbp5500"], django_capture_on_commit_callbacks)
    assert FaceDetection.objects.count() == 7
    assert FaceDetection.objects.filter(job_id=job3.pk).count() == 1


def test_min_face_size_is_configurable_and_refreshes_verdicts_without_redetecting(
    scut_root, django_capture_on_commit_callbacks
):
    _register(scut_root)
    source_import(source=Source.objects.get())
    _run_filter(["scut_fbp5500"], django_capture_on_commit_callbacks)
    kept_before = FaceDetection.objects.filter(kept=True).count()
    assert kept_before >= 2
    job = _run_filter(["scut_fbp5500"], django_capture_on_commit_callbacks, min_face_size_px=5000)
    assert job.status == Job.Status.SUCCEEDED
    assert job.result["verdicts_refreshed"] == 6 - 0 - job.result["errors"]
    assert FaceDetection.objects.filter(kept=True).count() == 0
    assert SourceItem.objects.filter(kept=True).count() == 0


def test_normalise_levels_and_degenerate_source(scut_root):
    source = _register(scut_root)
    source_import(source=source)
    version = "test-version"
    items = list(SourceItem.objects.filter(source=source).order_by("raw_score"))
    for it in items:
        FaceDetection.objects.create(image=it.image, detector_version=version, kept=it.raw_score >= 2.0)
    info = source_normalise(source=source, detector_version=version)
    kept = [i for i in items if i.raw_score >= 2.0]
    assert info["kept"] == len(kept) and info["min"] == 2.0 and info["max"] == 4.2
    by = {i.native_id: i for i in SourceItem.objects.filter(source=source)}
    assert by["camera.jpg"].score == 0.0 and by["camera.jpg"].level == "bad"
    assert by["astronaut.jpg"].score == 1.0 and by["astronaut.jpg"].level == "excellent"
    # (3.3 - 2) / 2.2 = 0.5909 -> fair ; (3.1 - 2)/2.2 = 0.5 -> fair ; (2.6-2)/2.2 = 0.2727 -> poor
    assert by["coffee.jpg"].level == "fair" and by["lfw-0.jpg"].level == "poor"
    assert by["rocket.jpg"].score is None and by["rocket.jpg"].kept is False
    # idempotent
    assert source_normalise(source=source, detector_version=version)["changed"] == 0
    # a source whose kept scores are all equal has no scale: recorded, no scores
    FaceDetection.objects.filter(detector_version=version).update(kept=False)
    FaceDetection.objects.filter(image__source_items__native_id="coffee.jpg").update(kept=True)
    info = source_normalise(source=source, detector_version=version)
    assert "error" in info and not SourceItem.objects.filter(score__isnull=False).exists()
    assert len(SCUT_SCORES) == info["items"]
