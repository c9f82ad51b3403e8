"""Registry invariants, predict API errors, pre-scoring idempotence, evaluation, and the CLI."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, transaction

from annotation.models import Job
from annotation.standards.humanbeauty import DIMENSION_KEYS, LEVELS
from humanbeauty.errors import ApplicationError, ConflictError
from modeling.models import Evaluation, ModelVersion, Prediction
from tests.conftest import png_bytes

from .conftest import TINY_CONFIG

pytestmark = pytest.mark.django_db


def _ready(version: str, checkpoint: Path) -> ModelVersion:
    from modeling.services import model_version_create, model_version_register

    return model_version_register(
        model_version=model_version_create(version=version), checkpoint_path=checkpoint
    )


def test_database_allows_one_active_version(trained_checkpoint) -> None:
    a, b = _ready("a", trained_checkpoint), _ready("b", trained_checkpoint)
    ModelVersion.objects.filter(pk=a.pk).update(is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=b.pk).update(is_active=True)
    training = ModelVersion.objects.create(version="still-training")
    with pytest.raises(IntegrityError), transaction.atomic():  # only a ready version can be active
        ModelVersion.objects.filter(pk=a.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=training.pk).update(is_active=True)


def test_activation_swaps_the_active_version(trained_checkpoint) -> None:
    from modeling.services import model_version_activate

    a, b = _ready("a", trained_checkpoint), _ready("b", trained_checkpoint)
    model_version_activate(model_version=a, prescore=False)
    model_version_activate(model_version=b, prescore=False)
    assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == ["b"]
    with pytest.raises(ConflictError):
        model_version_activate(model_version=ModelVersion.objects.create(version="t"), prescore=False)


def test_registered_version_carries_checkpoint_provenance(trained_checkpoint) -> None:
    mv = _ready("prov", trained_checkpoint)
    assert mv.release_version == "0.1.0"  # release.json one level above HumanAesExpert/
    assert mv.code_revision and mv.config["tiling"] is False and mv.training["stage_two"] is True


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"", 400), (b"not an image at all", 400), (b"GIF89a" + b"\0" * 64, 400)],
)
def test_predict_rejects_bad_uploads(client_for, ready_version, data: bytes, status: int) -> None:
    upload = SimpleUploadedFile("x.jpg", data, content_type="image/jpeg")
    response = client_for("admin").post("/api/modeling/predict/", {"file": upload}, format="multipart")
    assert response.status_code == status, response.content
    assert set(response.json()) == {"message", "extra"}


def test_predict_too_large_is_413(client_for, ready_version, settings) -> None:
    settings.HB_IMAGE_MAX_BYTES = 100
    upload = SimpleUploadedFile("x.png", png_bytes(64, 64), content_type="image/png")
    response = client_for("admin").post("/api/modeling/predict/", {"file": upload}, format="multipart")
    assert response.status_code == 413


def test_predict_without_an_active_version_is_409(client_for, db) -> None:
    upload = SimpleUploadedFile("x.png", png_bytes(), content_type="image/png")
    response = client_for("researcher").post("/api/modeling/predict/", {"file": upload}, format="multipart")
    assert response.status_code == 409
    assert response.json()["extra"]["code"] == "no_active_version"


def test_predict_png_with_named_version(client_for, ready_version) -> None:
    upload = SimpleUploadedFile("x.png", png_bytes(48, 40), content_type="image/png")
    response = client_for("admin").post(
        "/api/modeling/predict/", {"file": upload, "version": ready_version.version}, format="multipart"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body["dimensions"]) == list(DIMENSION_KEYS) and body["rating_level"] in LEVELS


def test_predict_job_runs_as_a_queued_job_and_matches_the_direct_answer(
    client_for, ready_version, django_capture_on_commit_callbacks, settings
) -> None:
    from django.core.files.storage import default_storage

    client = client_for("researcher")
    data = png_bytes(48, 40)
    direct = client.post(
        "/api/modeling/predict/", {"file": SimpleUploadedFile("x.png", data, "image/png")}, format="multipart"
    ).json()
    # The task runs eagerly, in this process, once the job commits (the gpu queue on a real worker process
    # is exercised by test_train_worker_kill.py).
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(
            "/api/modeling/predict/jobs/",
            {"file": SimpleUploadedFile("x.png", data, "image/png")},
            format="multipart",
        )
    assert queued.status_code == 202, queued.content
    body = queued.json()
    assert (
        body["model_version"] == ready_version.version and body["job_url"] == f"/api/jobs/{body['job_id']}/"
    )
    job = client.get(body["job_url"]).json()
    assert job["kind"] == "modeling.predict" and job["status"] == "succeeded", job
    assert job["result"] == direct  # the same object as the direct endpoint returns
    assert not default_storage.listdir("predict-uploads")[1]  # the parked upload was deleted
    # another researcher cannot read it; a volunteer cannot queue at all
    assert client_for("researcher").get(body["job_url"]).status_code == 404
    upload = SimpleUploadedFile("x.png", data, "image/png")
    assert client_for("volunteer").post("/api/modeling/predict/jobs/", {"file": upload}).status_code == 403


def test_predict_job_refuses_bad_input_before_queuing(client_for, ready_version, db) -> None:
    client = client_for("admin")
    bad = client.post(
        "/api/modeling/predict/jobs/",
        {"file": SimpleUploadedFile("x.jpg", b"not an image", "image/jpeg")},
        format="multipart",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"message", "extra"}
    unknown = client.post(
        "/api/modeling/predict/jobs/",
        {"file": SimpleUploadedFile("x.png", png_bytes(), "image/png"), "version": "nope"},
        format="multipart",
    )
    assert unknown.status_code == 404
    assert not Job.objects.filter(kind="modeling.predict").exists()


def test_predict_refuses_an_empty_version_instead_of_using_the_active_one(client_for, ready_version) -> None:
    for path in ("/api/modeling/predict/", "/api/modeling/predict/jobs/"):
        upload = SimpleUploadedFile("x.png", png_bytes(), "image/png")
        response = client_for("admin").post(path, {"file": upload, "version": ""}, format="multipart")
        assert response.status_code == 400, response.content
        assert "version" in response.json()["extra"]["fields"]
    assert not Job.objects.filter(kind="modeling.predict").exists()


def test_big_images_are_decoded_by_the_queued_job_not_while_answering(
    client_for, ready_version, settings, monkeypatch
) -> None:
    """The synchronous predict refuses (413, before decoding) what the queued one decodes on a worker;
    the queued one only reads the header in the web process."""
    settings.HB_PREDICT_SYNC_MAX_PIXELS = 48 * 40 - 1
    client = client_for("researcher")
    data = png_bytes(48, 40)
    refused = client.post(
        "/api/modeling/predict/", {"file": SimpleUploadedFile("x.png", data, "image/png")}, format="multipart"
    )
    assert refused.status_code == 413 and refused.json()["extra"]["code"] == "use_async"
    from annotation import imaging

    decodes: list[str] = []
    real = imaging.decode_image
    monkeypatch.setattr(imaging, "decode_image", lambda *a, **k: decodes.append("x") or real(*a, **k))
    import annotation.services.images as store

    monkeypatch.setattr(store, "decode_image", imaging.decode_image)
    queued = client.post(
        "/api/modeling/predict/jobs/",
        {"file": SimpleUploadedFile("x.png", data, "image/png")},
        format="multipart",
    )
    assert queued.status_code == 202 and decodes == []  # nothing decoded while answering the request
    from modeling.services import predict_run

    predict_run(job_id=queued.json()["job_id"])  # the task's body (the test transaction never commits)
    assert decodes == ["x"]
    assert Job.objects.get(pk=queued.json()["job_id"]).status == "succeeded"


def test_predict_job_fails_cleanly_when_its_version_is_gone(ready_version, db) -> None:
    """A version deleted between queuing and running: the job fails with a message, the upload is removed."""
    from django.core.files.storage import default_storage

    from modeling.services import predict_run, predict_start

    job = predict_start(data=png_bytes(), model_version=ready_version)  # (outside a request: not run yet)
    name = job.params["upload"]
    assert default_storage.exists(name)
    Job.objects.filter(pk=job.pk).update(params={**job.params, "version": "deleted-meanwhile"})
    with pytest.raises(ConflictError):
        predict_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "no longer exists" in job.error
    assert not default_storage.exists(name)
    assert predict_run(job_id=job.pk) is None  # finished: left alone


def test_prescore_is_idempotent_and_sets_priority(ready_version, pool_images) -> None:
    from modeling.services import prescore_pending

    first = prescore_pending(limit=4)
    assert first["scored"] == 4
    rest = prescore_pending()
    assert rest["scored"] == len(pool_images) - 4
    assert prescore_pending()["scored"] == 0
    assert Prediction.objects.filter(model_version=ready_version).count() == len(pool_images)
    assert Job.objects.filter(kind="modeling.prescore", status="succeeded").count() == 2  # no job when idle
    assert all(item.priority == 0.0 for item in pool_images)  # stale instances; rows were updated:
    from annotation.scoring.models import PoolItem

    assert PoolItem.objects.filter(priority__gt=0).count() == len(pool_images)


def test_prediction_api_gives_dimensions_and_heads_by_key(ready_version, pool_images, client_for) -> None:
    from modeling.services import prescore_pending

    prescore_pending()
    pred = Prediction.objects.get(model_version=ready_version, image_id=pool_images[0].image_id)
    researcher = client_for("researcher")
    body = researcher.get(f"/api/modeling/predictions/{pred.image_id}/").json()
    assert body["standard"] == "humanbeauty-v1" and body["model_version"] == ready_version.version
    assert list(body["dimensions"]) == list(DIMENSION_KEYS)
    assert body["dimensions"] == pytest.approx(pred.dimension_scores)
    assert set(body["heads"]) == {"lm", "regression", "expert", "final"}
    # The former flat names stay, for the default standard's clients.
    assert body["lm_score"] == pytest.approx(body["heads"]["lm"])
    assert body["expert_overall"] == pytest.approx(body["heads"]["expert"])
    same = researcher.get(f"/api/modeling/predictions/{pred.image_id}/?version={ready_version.version}")
    assert same.json() == body
    assert researcher.get(f"/api/modeling/predictions/{pred.image_id}/?version=nope").status_code == 404
    assert client_for("volunteer").get(f"/api/modeling/predictions/{pred.image_id}/").status_code == 403


def test_prescore_without_active_version_does_nothing(pool_images) -> None:
    from modeling.services import prescore_pending

    assert prescore_pending() == {"skipped": "no active version"}
    assert not Job.objects.filter(kind="modeling.prescore").exists()


def test_prescore_skips_complete_items(ready_version, pool_images) -> None:
    from annotation.scoring.models import PoolItem
    from modeling.services import prescore_pending

    PoolItem.objects.filter(pk=pool_images[0].pk).update(ratings_done=9, target=9)
    assert prescore_pending()["scored"] == len(pool_images) - 1


def test_train_rejects_bad_paths(client_for, backbone_dir, release_dir, tmp_path) -> None:
    admin = client_for("admin")
    base = {"version": "bad", "config": TINY_CONFIG}
    r = admin.post(
        "/api/modeling/versions/",
        {**base, "release_dir": str(tmp_path), "backbone_path": str(backbone_dir)},
        format="json",
    )
    assert r.status_code == 400 and "not a release" in r.json()["message"]
    r = admin.post(
        "/api/modeling/versions/",
        {**base, "release_dir": str(release_dir), "backbone_path": str(tmp_path)},
        format="json",
    )
    assert r.status_code == 400 and "backbone" in r.json()["message"]
    r = admin.post(
        "/api/modeling/versions/",
        {**base, "release_dir": str(release_dir), "backbone_path": str(backbone_dir), "config": {"nope": 1}},
        format="json",
    )
    assert r.status_code == 400 and "config" in r.json()["message"]
    assert not ModelVersion.objects.exists()


def test_zero_shot_evaluation_on_records(
    client_for, ready_version, release_dir, tmp_path, django_capture_on_commit_callbacks
) -> None:
    test_lines = (release_dir / "HumanAesExpert" / "test_label.jsonl").read_text().splitlines()
    records = []
    for line in (
        test_lines + (release_dir / "HumanAesExpert" / "train_label.jsonl").read_text().splitlines()[:3]
    ):
        row = json.loads(line)
        score = row["score"][-1] if isinstance(row["score"], list) else row["score"]
        records.append({"image": str(release_dir / "HumanAesExpert" / row["image_name"]), "gt_score": score})
    path = tmp_path / "test.json"
    path.write_text(json.dumps(records))
    with django_capture_on_commit_callbacks(execute=True):
        r = client_for("admin").post(
            f"/api/modeling/versions/{ready_version.pk}/evaluate/",
            {"records_path": str(path), "dataset": "zero-shot-demo"},
            format="json",
        )
    assert r.status_code == 202, r.content
    job = Job.objects.get(pk=r.json()["job_id"])
    assert job.status == "succeeded", job.error
    evaluation = Evaluation.objects.get(model_version=ready_version, dataset="zero-shot-demo")
    assert evaluation.n == len(records) and "metavoter" in evaluation.metrics["heads"]
    detail = client_for("researcher").get(f"/api/modeling/versions/{ready_version.pk}/").json()
    assert detail["evaluations"][0]["dataset"] == "zero-shot-demo"


def test_evaluate_rejects_missing_images(ready_version, tmp_path) -> None:
    from modeling.services import model_evaluate_start

    with pytest.raises(ApplicationError, match="not found"):
        model_evaluate_start(
            model_version=ready_version, records=[{"image": str(tmp_path / "x.jpg"), "gt_score": 0.5}]
        )


def test_cli_score_image_and_dataset(ready_version, release_dir, tmp_path) -> None:
    images = sorted((release_dir / "HumanAesExpert" / "HumanBeauty-50K" / "images").iterdir())
    out = StringIO()
    call_command("score_image", str(images[0]), stdout=out)
    one = json.loads(out.getvalue())
    assert set(one["dimensions"]) == set(DIMENSION_KEYS) and one["model_version"] == ready_version.version
    assert {
        "image",
        "score",
        "rating_level",
        "final_score",
        "lm_score",
        "regression_score",
        "expert_overall",
    } <= set(one)

    artimuse_dir = release_dir / "artimuse" / "test_datasets" / "HumanBeauty"
    result_path = tmp_path / "results.json"
    call_command(
        "score_dataset", str(artimuse_dir / "test.json"), "--out", str(result_path), stdout=StringIO()
    )
    results = json.loads(result_path.read_text())
    expected = json.loads((artimuse_dir / "test.json").read_text())
    assert len(results) == len(expected) and all({"image", "score"} <= set(r) for r in results)

    call_command("score_dataset", str(images[0].parent), "--out", str(result_path), stdout=StringIO())
    assert len(json.loads(result_path.read_text())) == len(images)


def test_cli_model_train_and_activate(backbone_dir, release_dir, tmp_path) -> None:
    out, err = StringIO(), StringIO()
    call_command(
        "model_train",
        "--release-dir", str(release_dir),
        "--backbone", str(backbone_dir),
        "--model-version", "cli-tiny",
        "--max-steps", "2",
        "--config", json.dumps(TINY_CONFIG),
        stdout=out,
        stderr=err,
    )  # fmt: skip
    assert json.loads(out.getvalue())["version"] == "cli-tiny"
    assert "modeling.train" in err.getvalue()  # the progress bar
    call_command("model_activate", "cli-tiny", stdout=StringIO())  # dry run
    assert not ModelVersion.objects.filter(is_active=True).exists()
    call_command("model_activate", "cli-tiny", "--execute", "--no-prescore", stdout=StringIO())
    assert ModelVersion.objects.get(is_active=True).version == "cli-tiny"
    metrics_out = StringIO()
    call_command("model_evaluate", "--release-dir", str(release_dir), stdout=metrics_out, stderr=StringIO())
    assert "paper_mse" in metrics_out.getvalue()


def test_zero_shot_on_an_imported_curation_source(ready_version, pool_images) -> None:
    curation = pytest.importorskip("curation.models")
    from modeling.services import model_evaluate_run, model_evaluate_start

    source = curation.Source.objects.create(
        key="zs", name="zero-shot", importer="csv", root="/nonexistent", score_min=1, score_max=5
    )
    for k, item in enumerate(pool_images):
        curation.SourceItem.objects.create(
            source=source,
            image=item.image,
            native_id=str(k),
            raw_score=1 + k % 5,
            kept=True,
            score=(k % 5) / 4,
        )
    job = model_evaluate_start(model_version=ready_version, source="zs", enqueue=False)
    result = model_evaluate_run(job_id=job.pk)
    assert result["metrics"]["n"] == len(pool_images) and result["dataset"] == "source:zs"
    assert Evaluation.objects.filter(model_version=ready_version, dataset="source:zs").exists()
    with pytest.raises(ApplicationError):
        model_evaluate_start(model_version=ready_version, source="missing")
