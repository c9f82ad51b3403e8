"""The modeling demo: tiny backbone + demo release -> trained, evaluated, active 'tiny-demo' pre-scoring the
queue, plus 'tiny-upstream' imported from the authors' checkpoint layout; a second run changes nothing."""

from __future__ import annotations

import pytest

from annotation.models import Image, Standard
from modeling.models import Evaluation, ModelVersion, Prediction

pytestmark = pytest.mark.django_db


def test_demo_load_is_idempotent(django_capture_on_commit_callbacks) -> None:
    from annotation.demo import demo_load_core
    from annotation.scoring.services.pool import pool_add
    from modeling.demo import DEMO_UPSTREAM_VERSION, DEMO_VERSION, demo_load

    demo_load_core()
    standard = Standard.objects.get(key="humanbeauty-v1")
    for image in Image.objects.filter(provenance=Image.Provenance.DEMO).order_by("sha256")[:5]:
        pool_add(image=image, standard=standard)
    with django_capture_on_commit_callbacks(execute=True):  # (its duration is bench/'s business)
        first = demo_load()
    mv = ModelVersion.objects.get(version=DEMO_VERSION)
    assert mv.is_active and mv.status == "ready" and "metavoter" in mv.metrics["heads"]
    assert first["prescored"] == 5
    assert Prediction.objects.filter(model_version=mv).count() == 5
    upstream = ModelVersion.objects.get(version=DEMO_UPSTREAM_VERSION)
    assert first["upstream"] == "ready" and not upstream.is_active
    assert upstream.training["imported_from"]["metavoter_ready"] is True
    evaluation = Evaluation.objects.get(model_version=upstream)
    assert evaluation.n > 0 and "metavoter" in evaluation.metrics["heads"]
    with django_capture_on_commit_callbacks(execute=True):
        second = demo_load()
    assert "trained" not in second and second["prescored"] == 0 and second["upstream"] == "present"
    assert ModelVersion.objects.count() == 2
