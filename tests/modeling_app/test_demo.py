"""The modeling demo: tiny backbone + demo release -> trained, evaluated, active 'tiny-demo' pre-scoring the
queue; a second run changes nothing."""

from __future__ import annotations

import pytest

from annotation.models import Image, Standard
from modeling.models import ModelVersion, Prediction

pytestmark = pytest.mark.django_db


def test_demo_load_trains_activates_prescores_and_is_idempotent(django_capture_on_commit_callbacks) -> None:
    from annotation.demo import demo_load_core
    from annotation.scoring.services.pool import pool_add
    from modeling.demo import DEMO_VERSION, demo_load

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
    with django_capture_on_commit_callbacks(execute=True):
        second = demo_load()
    assert "trained" not in second and second["prescored"] == 0
    assert ModelVersion.objects.count() == 1
