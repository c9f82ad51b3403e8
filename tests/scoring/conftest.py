"""Fixtures of the scoring tests: certified raters, a pool of images (rows only, no files), valid scores."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest


def fake_images(n: int, prefix: str = "pool", uploaded_by: Any = None) -> list[Any]:
    """``n`` Image rows without bytes (the queue never opens files)."""
    from annotation.models import Image

    objs = []
    for i in range(n):
        sha = hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest()
        img = Image(
            sha256=sha,
            original_sha256=sha,
            width=640,
            height=800,
            format="JPEG",
            size_bytes=1000,
            provenance=Image.Provenance.COLLECTED,
            uploaded_by=uploaded_by,
        )
        img.file.name = f"images/{sha}.jpg"
        objs.append(img)
    return Image.objects.bulk_create(objs)


def make_pool(
    n: int, *, target: int = 9, prefix: str = "pool", campaign: Any = None, uploaded_by: Any = None
) -> list:
    from annotation.models import Standard
    from annotation.scoring.models import PoolItem

    standard = Standard.objects.get(key="humanbeauty-v1")
    images = fake_images(n, prefix, uploaded_by=uploaded_by)
    return PoolItem.objects.bulk_create(
        [PoolItem(image=img, standard=standard, target=target, campaign=campaign) for img in images]
    )


def valid_scores(seed: int = 0, value: float | None = None) -> dict[str, float]:
    from annotation.standards.humanbeauty import DIMENSION_KEYS

    rng = np.random.default_rng(seed)
    return {
        k: (value if value is not None else round(float(rng.uniform(0.2, 0.9)), 2)) for k in DIMENSION_KEYS
    }


@pytest.fixture
def certify(admin_user):
    from annotation.qualification.contract import volunteer_certify_by_admin

    def do(user):
        volunteer_certify_by_admin(user=user, admin=admin_user, reason="test")
        return user

    return do


@pytest.fixture
def rater(make_user, certify):
    return certify(make_user("volunteer"))


@pytest.fixture
def make_rater(make_user, certify):
    def make(username: str | None = None):
        return certify(make_user("volunteer", username=username))

    return make


@pytest.fixture
def no_gold(monkeypatch):
    """Hidden gold never drawn (deterministic queue tests)."""
    from annotation.qualification.services import monitoring

    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)


def ensure_seeded_standard() -> None:
    """Transactional tests flush the database; put the migration-seeded standards back if they are gone
    (idempotent: the migration's own ``seed``)."""
    import importlib

    from django.apps import apps

    importlib.import_module("annotation.migrations.0002_seed_humanbeauty_standard").seed(apps, None)
    importlib.import_module("annotation.migrations.0006_seed_artimuse_standard").seed(apps, None)
