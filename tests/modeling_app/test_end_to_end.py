"""The tiny end-to-end on CPU: release -> train both stages (job, eager Celery) -> evaluate -> register ->
activate -> pre-score the queue -> predict API; raters never see predictions."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Job
from annotation.standards.humanbeauty import DIMENSION_KEYS, LEVELS
from modeling.models import Evaluation, ModelVersion, Prediction

from .conftest import TINY_CONFIG, photo_jpegs

pytestmark = pytest.mark.django_db

FORBIDDEN = ("prediction", "priority", "disagreement", "lm_score", "regression", "expert", "final_score")


def test_release_to_predict_api(
    client_for, release_dir, backbone_dir, pool_images, certified_rater, django_capture_on_commit_callbacks
) -> None:
    admin = client_for("admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/api/modeling/versions/",
            {
                "version": "e2e-tiny",
                "release_dir": str(release_dir),
                "backbone_path": str(backbone_dir),
                "config": TINY_CONFIG,
                "max_steps": 4,
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.kind == "modeling.train" and job.total and job.done == job.total

    # Registered with the release version, the code revision and metrics of every head (+ paper columns).
    mv = ModelVersion.objects.get(version="e2e-tiny")
    assert mv.status == ModelVersion.Status.READY and not mv.is_active
    assert mv.release_version == "0.1.0"
    assert mv.code_revision and 1 <= mv.training["stage_one_steps"] <= 4
    heads = mv.metrics["heads"]
    assert set(heads) == {"lm", "regression", "expert", "metavoter"}
    for head in heads.values():
        assert {
            "mse",
            "rmse",
            "mae",
            "plcc",
            "srcc",
            "krcc",
            "paper_mse",
            "paper_mae",
            "accuracy",
            "f1",
        } <= set(head)
        assert head["paper_mse"] == pytest.approx(head["rmse"], abs=1e-6)
    assert mv.metrics["n"] >= 1 and "per_dimension_mae" in mv.metrics
    assert Evaluation.objects.filter(model_version=mv, dataset="0.1.0:test").exists()

    # Activate: the one active version, and pre-scoring of the pool follows (job on the gpu queue).
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/api/modeling/versions/{mv.pk}/activate/")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is True
    prescore_job = Job.objects.filter(kind="modeling.prescore").latest("pk")
    assert prescore_job.status == Job.Status.SUCCEEDED, prescore_job.error
    assert prescore_job.result["scored"] == len(pool_images)
    predictions = {p.image_id: p for p in Prediction.objects.filter(model_version=mv)}
    assert set(predictions) == {item.image_id for item in pool_images}
    for item in pool_images:
        item.refresh_from_db()
        pred = predictions[item.image_id]
        assert item.priority == pytest.approx(pred.heads_disagreement)
        assert pred.rating_level in LEVELS and pred.head_scores["final"] is not None
        assert set(pred.head_scores) == {"lm", "regression", "expert", "final"}
        assert list(pred.dimensions) == list(DIMENSION_KEYS) and pred.standard.key == "humanbeauty-v1"
        assert all(0.0 <= v <= 1.0 for v in pred.dimensions.values())

    # Idempotent: nothing left to score, no duplicate rows.
    from modeling.services import prescore_pending

    assert prescore_pending()["scored"] == 0
    assert Prediction.objects.filter(model_version=mv).count() == len(pool_images)

    # Predict API (researcher): 12 dimensions, each head, final score, rating text.
    researcher = client_for("researcher")
    upload = SimpleUploadedFile("hopper.jpg", photo_jpegs(3)[2], content_type="image/jpeg")
    response = researcher.post("/api/modeling/predict/", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body["dimensions"]) == set(DIMENSION_KEYS)
    assert body["model_version"] == "e2e-tiny" and body["rating_level"] in LEVELS
    for key in (
        "lm_score",
        "regression_score",
        "expert_overall",
        "final_score",
        "score",
        "heads_disagreement",
    ):
        assert isinstance(body[key], float)
    assert body["score"] == pytest.approx(body["final_score"])

    # Raters never see predictions: the scoring queue's next-image payload carries none of it.
    rater = client_for(None, user=certified_rater)
    response = rater.post("/api/scoring/next/")
    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["item"] is not None
    text = json.dumps(payload).lower()
    assert not any(word in text for word in FORBIDDEN), payload
    # And volunteers cannot reach the modeling API at all.
    assert rater.get("/api/modeling/versions/").status_code == 403
    assert rater.post("/api/modeling/predict/", {}, format="multipart").status_code == 403
