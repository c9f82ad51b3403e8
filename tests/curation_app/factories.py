"""Builders for curation app tests: a filtered public source and complete 50K scoring aggregates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.utils import timezone

from annotation.models import Image, Standard
from annotation.services.images import image_ingest
from annotation.standards.humanbeauty import STANDARD_KEY
from curation.models import FaceDetection, Source, SourceItem
from curation.services.filtering import filter_params
from curation.services.normalisation import source_normalise
from curation.services.sources import source_import, source_register
from tests.conftest import jpeg_bytes


def public_source(root: Path, *, key: str = "scut_fbp5500", kept: set[str] | None = None) -> Source:
    """Register + import a SCUT folder; face verdicts are written directly (``kept`` native ids, default
    all) so release tests do not pay for the detector; then normalise."""
    source = source_register(key=key, importer="scut_fbp5500", root=str(root))
    source_import(source=source)
    version = filter_params()["detector_version"]
    for item in SourceItem.objects.filter(source=source).select_related("image"):
        FaceDetection.objects.get_or_create(
            image=item.image,
            detector_version=version,
            defaults={"kept": kept is None or item.native_id in kept, "face_count": 1},
        )
    source_normalise(source=source, detector_version=version)
    return source


def _standard() -> Standard:
    """The seeded humanbeauty-v1 standard (re-seeded when a transactional test flushed the tables)."""
    if not Standard.objects.filter(key=STANDARD_KEY).exists():
        import importlib

        from django.apps import apps

        importlib.import_module("annotation.migrations.0002_seed_humanbeauty_standard").seed(apps, None)
    return Standard.objects.get(key=STANDARD_KEY)


def _raters(n: int) -> list:
    from annotation.models import User

    return [
        User.objects.get_or_create(username=f"factory-rater{k}", defaults={"role": User.Role.VOLUNTEER})[0]
        for k in range(n)
    ]


def collected_aggregates(n: int, *, seed: int = 0, start: int = 0, ratings: int = 9) -> list[Image]:
    """``n`` collected images with completed pool items, ``ratings`` raw ratings each (written directly, not
    through the queue: the end-to-end test covers the queue) and their aggregates computed by the real
    aggregation (MOS, SD, CI and SUREAL psi)."""
    from annotation.scoring.models import PoolItem, Rating
    from annotation.scoring.services.aggregation import scoring_reaggregate

    standard = _standard()
    rng = np.random.default_rng(seed)
    raters = _raters(max(12, ratings))
    out = []
    rows = []
    for i in range(start, start + n):
        image, _ = image_ingest(data=jpeg_bytes(64, 80, seed=1000 + i), provenance=Image.Provenance.COLLECTED)
        item = PoolItem.objects.create(
            image=image, standard=standard, target=ratings, ratings_done=ratings, completed_at=timezone.now()
        )
        quality = rng.uniform(0.1, 0.9, 12)
        for k in rng.choice(len(raters), size=ratings, replace=False):
            scores = np.clip(quality + rng.normal(0, 0.05, 12), 0, 1).round(3)
            rows.append(
                Rating(
                    pool_item=item,
                    image=image,
                    rater=raters[int(k)],
                    standard=standard,
                    scores=[float(v) for v in scores],
                    dwell_ms=int(rng.integers(4000, 20000)),
                )
            )
        out.append(image)
    Rating.objects.bulk_create(rows)
    scoring_reaggregate(standard=standard, workers=1)
    return out
