"""The migration that moves Prediction's fixed columns to scores by key, forward and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("modeling", "0001_initial")]
AFTER = [("modeling", "0002_prediction_scores_by_key")]
DIMS = (
    "facial_brightness", "facial_feature_clarity", "facial_skin_tone", "facial_structure",
    "facial_contour_clarity", "facial_aesthetic", "outfit", "body_shape", "looks", "environment",
    "general_appearance", "overall",
)  # fmt: skip


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_existing_rows_move_to_scores_by_key_and_back() -> None:
    old = _migrate(BEFORE)
    Image = old.get_model("annotation", "Image")
    ModelVersion = old.get_model("modeling", "ModelVersion")
    Prediction = old.get_model("modeling", "Prediction")
    image = Image.objects.create(
        sha256="a" * 64, original_sha256="a" * 64, file="images/a.jpg", width=8, height=8, format="JPEG",
        size_bytes=10, provenance="demo",
    )  # fmt: skip
    mv = ModelVersion.objects.create(version="mig-test", status="ready")
    dims = {k: round(0.05 * (i + 1), 2) for i, k in enumerate(DIMS)}
    Prediction.objects.create(
        image=image, model_version=mv, **dims, lm_score=0.41, regression_score=0.42, expert_overall=0.6,
        final_score=None, score=0.47, rating_level="fair", heads_disagreement=0.08,
    )  # fmt: skip
    try:
        new = _migrate(AFTER)
        p = new.get_model("modeling", "Prediction").objects.get()
        assert p.standard.key == "humanbeauty-v1"
        assert p.dimension_scores == dims
        assert p.head_scores == {"lm": 0.41, "regression": 0.42, "expert": 0.6, "final": None}
        assert (p.score, p.rating_level, p.heads_disagreement) == (0.47, "fair", 0.08)

        back = _migrate(BEFORE)
        p = back.get_model("modeling", "Prediction").objects.get()
        assert {k: getattr(p, k) for k in DIMS} == dims
        assert (p.lm_score, p.regression_score, p.expert_overall, p.final_score) == (0.41, 0.42, 0.6, None)
    finally:
        _migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes("modeling")
        )  # leave the schema at the latest state for the other tests
