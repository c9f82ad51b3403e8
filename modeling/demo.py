"""Demo of the modeling app: a tiny HumanAesExpert trained on the demo release pre-scores the queue.

``demo_load()`` (run by ``manage.py load_demo`` after the curation demo, idempotent, ~10-30 s on CPU):

1. a tiny random InternVL backbone under ``MODELS_ROOT/tiny-backbone`` (``modeling.tiny``);
2. a release: the curation app's published demo release when there is one, else one written with the pure
   ``curation.release_writer.write_release`` from the demo images in the store, with **synthetic labels**
   (a deterministic function of each image's hash: the point is the pipeline, not the numbers);
3. both training stages for a handful of steps through the platform's job, evaluation on the test split,
   registration and activation of version ``tiny-demo``;
4. pre-scoring of the open pool items;
5. the authors'-checkpoint import: a tiny random HumanAesExpert written in the authors' InternVL2 chat
   layout (``modeling.tiny.write_upstream_layout``) is imported as version ``tiny-upstream`` (ready, not
   active) and evaluated on the same test split, as one would the published HumanAesExpert-1B.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

DEMO_VERSION = "tiny-demo"
DEMO_UPSTREAM_VERSION = "tiny-upstream"
DEMO_RELEASE_VERSION = "0.0.1-modeling-demo"
DEMO_TRAIN_CONFIG: dict[str, Any] = {
    "tiling": False,
    "effective_batch_size": 2,
    "per_device_batch_size": 2,
    "metavoter_epochs": 3,
    "metavoter_batch_size": 4,
    "learning_rate": 1e-3,
}
DEMO_MAX_STEPS = 6


def synthetic_labels(image_id: str) -> tuple[float, ...]:
    """12 deterministic scores in [0.05, 0.95] from an image id (demo/test labels only)."""
    seed = int(hashlib.sha256(f"hb-demo:{image_id}".encode()).hexdigest()[:8], 16)
    leaves = np.random.default_rng(seed).uniform(0.05, 0.95, 12)
    return tuple(round(float(v), 4) for v in leaves)


def release_from_images(
    images: Sequence[tuple[str, Path]],
    out_dir: Path,
    *,
    version: str = DEMO_RELEASE_VERSION,
    test_fraction: float = 0.3,
) -> Path:
    """A release (platform export layout) from ``(sha256, path)`` pairs: alternately 12-dimension (50K) and
    overall-only (58K) records with synthetic labels. Returns ``out_dir``."""
    from curation.release_writer import ReleaseRecord, ReleaseSpec, write_release

    records = []
    for k, (sha, path) in enumerate(sorted(images)):
        dims = synthetic_labels(sha)
        ext = Path(path).suffix or ".jpg"
        if k % 2 == 0:
            records.append(ReleaseRecord(sha, Path(path), ext, "demo", "50K", dims[11], dims, n_ratings=9))
        else:
            records.append(ReleaseRecord(sha, Path(path), ext, "demo", "58K", dims[11], None, n_ratings=0))
    spec = ReleaseSpec(
        version=version,
        created_at="2026-01-01T00:00:00Z",
        split_salt="hb-modeling-demo",
        test_fraction=test_fraction,
        aggregation={"method": "synthetic", "min_raters": 0},
        card={"contact": "demo@example.org", "collection_timeframe": ["2026-01-01", "2026-01-01"]},
    )
    write_release(spec, records, Path(out_dir), plots=False)
    return Path(out_dir)


def _curation_demo_release() -> Path | None:
    """The curation app's latest published release directory, if that app provides one."""
    try:
        from curation.models import Release  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        for release in Release.objects.order_by("-pk")[:20]:
            published = (
                getattr(release, "published_at", None) or getattr(release, "status", "") == "published"
            )
            path = getattr(release, "path", None) or getattr(release, "out_dir", None)
            if published and path and (Path(str(path)) / "HumanAesExpert" / "train_label.jsonl").is_file():
                return Path(str(path))
    except Exception:  # their schema is not ours to assume
        return None
    return None


def _demo_release_dir() -> Path:
    from django.core.files.storage import default_storage

    from annotation.models import Image

    found = _curation_demo_release()
    if found is not None:
        return found
    out = Path(settings.RELEASES_ROOT) / f"modeling-demo-{DEMO_RELEASE_VERSION}"
    if (out / "HumanAesExpert" / "train_label.jsonl").is_file():
        return out
    images = [
        (img.sha256, Path(default_storage.path(img.file.name)))
        for img in Image.objects.filter(provenance=Image.Provenance.DEMO).order_by("sha256")[:24]
    ]
    if len(images) < 6:
        raise RuntimeError("the core demo images are missing: run the core demo first")
    return release_from_images(images, out)


def demo_load() -> dict[str, Any]:
    from modeling.tiny import build_tiny_backbone

    from .models import ModelVersion
    from .services import model_train_start, model_version_activate, prescore_pending

    result: dict[str, Any] = {}
    version = ModelVersion.objects.filter(version=DEMO_VERSION).first()
    if version is not None and version.status != ModelVersion.Status.READY:
        version.delete()  # an interrupted earlier attempt
        version = None
    if version is None:
        backbone = Path(settings.MODELS_ROOT) / "tiny-backbone"
        if not (backbone / "config.json").is_file():
            build_tiny_backbone(backbone, seed=0)
        release = _demo_release_dir()
        job = model_train_start(
            version=DEMO_VERSION,
            release_dir=release,
            backbone_path=backbone,
            config=DEMO_TRAIN_CONFIG,
            max_steps=DEMO_MAX_STEPS,
            enqueue=False,
        )
        from .services import model_train_run

        model_train_run(job_id=job.pk)
        version = ModelVersion.objects.get(version=DEMO_VERSION)
        result["trained"] = version.status
        result["release"] = str(release)
    if not ModelVersion.objects.filter(is_active=True).exists():
        model_version_activate(model_version=version, prescore=False)
    result["active"] = ModelVersion.objects.filter(is_active=True).values_list("version", flat=True).first()
    prescored = prescore_pending()
    result["prescored"] = prescored.get("scored", 0)
    result["upstream"] = _demo_upstream_import()
    return result


def _demo_upstream_import() -> str:
    """Import a tiny checkpoint in the authors' layout and evaluate it (once)."""
    from modeling.tiny import tiny_humanaesexpert, write_upstream_layout

    from .models import ModelVersion
    from .services import model_evaluate_run, model_evaluate_start, model_version_import_upstream

    if ModelVersion.objects.filter(version=DEMO_UPSTREAM_VERSION).exists():
        return "present"
    source = Path(settings.MODELS_ROOT) / "tiny-upstream-source"
    if not (source / "config.json").is_file():
        model, tokenizer = tiny_humanaesexpert("qwen2", seed=3)
        write_upstream_layout(source, model, tokenizer, "qwen2")
    imported = Path(settings.MODELS_ROOT) / "imported" / DEMO_UPSTREAM_VERSION
    if imported.exists():  # an interrupted earlier attempt
        import shutil

        shutil.rmtree(imported)
    version, _ = model_version_import_upstream(version=DEMO_UPSTREAM_VERSION, source_dir=source)
    job = model_evaluate_start(model_version=version, release_dir=_demo_release_dir(), enqueue=False)
    model_evaluate_run(job_id=job.pk)
    return str(version.status)
