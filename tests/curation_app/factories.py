"""Builders for curation app tests: a filtered public source and complete 50K scoring aggregates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.utils import timezone

from annotation.models import Image, Standard
from annotation.services.images import image_ingest
from curation.models import FaceDetection, Source, SourceItem
from curation.services.filtering import filter_params
from curation.services.normalisation import source_normalise
from curation.services.sources import source_import, source_register
from modeling.standard import STANDARD_KEY
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


def collected_aggregates(n: int, *, seed: int = 0, start: int = 0) -> list[Image]:
    """``n`` collected images with completed pool items and 12-dimension aggregates on humanbeauty-v1."""
    from annotation.scoring.models import ImageAggregate, PoolItem

    standard = _standard()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        image, _ = image_ingest(data=jpeg_bytes(64, 80, seed=1000 + i), provenance=Image.Provenance.COLLECTED)
        PoolItem.objects.create(
            image=image, standard=standard, target=9, ratings_done=9, completed_at=timezone.now()
        )
        mos = [float(x) for x in rng.uniform(0.05, 0.95, 12)]
        ImageAggregate.objects.create(
            image=image,
            standard=standard,
            n_ratings=9,
            mos=mos,
            sd=[0.1] * 12,
            n=[9] * 12,
            ci_half_width=[0.07] * 12,
            max_ci_half_width=0.07,
        )
        out.append(image)
    return out
