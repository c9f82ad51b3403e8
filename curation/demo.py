"""Curation demo: a small public source in SCUT-FBP5500's native layout written from the demo photographs
(faces and non-human images), registered, face-filtered, normalised, and release 1.0.0 built from it plus
whatever complete 50K aggregates the scoring demo produced, and release 1.0.0-artimuse of the ArtiMuse standard
(ArtiMuse's layout) from the ArtiMuse campaign the scoring demo rated to completion. Idempotent; runs
in-process (no worker)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.models import User

from .models import Release
from .services.filtering import filter_chunk, filter_finish, filter_pending_ids, filter_start
from .services.releases import release_build, release_create
from .services.sources import source_import, source_register

DEMO_SOURCE = "scut_demo"
DEMO_VERSION = "1.0.0"
DEMO_CONTENT_DATE = "2026-01-01T00:00:00Z"
# Versions are one namespace across standards (one directory and one URL per version): the ArtiMuse
# standard's releases carry the standard in the version's pre-release tag.
ARTIMUSE_VERSION = "1.0.0-artimuse"
ARTIMUSE_TEST_FRACTION = 0.25  # the demo's four artworks: one test image


def demo_source_folder() -> Path:
    """Write ``var/demo-sources/scut_demo`` (Images/ + train_test_files/All_labels.txt, scores 1–5)."""
    from annotation.demo import demo_images

    root = Path(settings.VAR_DIR if hasattr(settings, "VAR_DIR") else settings.BASE_DIR / "var")
    root = root / "demo-sources" / DEMO_SOURCE
    (root / "Images").mkdir(parents=True, exist_ok=True)
    (root / "train_test_files").mkdir(exist_ok=True)
    lines = []
    for item in demo_images():
        path = root / "Images" / f"{item.name}.jpg"
        if not path.exists():
            path.write_bytes(item.data)
        # a deterministic native score in [1, 5] per photograph
        score = 1.0 + (int(hashlib.sha256(item.name.encode()).hexdigest()[:8], 16) % 4001) / 1000
        lines.append(f"{item.name}.jpg {score:.3f}")
    (root / "train_test_files" / "All_labels.txt").write_text("\n".join(lines) + "\n")
    return root


def demo_load() -> dict[str, Any]:
    admin = User.objects.filter(username="admin").first()
    source = source_register(
        key=DEMO_SOURCE,
        importer="scut_fbp5500",
        root=str(demo_source_folder().resolve()),
        name="Demo public source (SCUT-FBP5500 layout)",
        created_by=admin,
    )
    imported = source_import(source=source)
    job = filter_start(source_keys=[DEMO_SOURCE], created_by=admin, enqueue=False)
    pending = filter_pending_ids(source_keys=[DEMO_SOURCE], detector_version=job.params["detector_version"])
    from annotation.services.jobs import job_start

    job_start(job_id=job.pk, total=len(pending), message="demo filter")
    if pending:
        filter_chunk(job_id=job.pk, image_ids=pending)
    filter_finish(job_id=job.pk)
    job.refresh_from_db()
    release = Release.objects.filter(version=DEMO_VERSION).first()
    if release is None or release.status == Release.Status.FAILED:
        release = release_create(
            version=DEMO_VERSION,
            created_by=admin,
            notes="Demo release built by load_demo.",
            content_date=DEMO_CONTENT_DATE,
            enqueue=False,
        )
        release = release_build(release_id=release.pk)
    return {
        "source_items_created": imported["created"],
        "filter": {k: job.result.get(k) for k in ("images", "kept", "rejected", "errors")},
        "release": f"{release.version} {release.status} {release.counts.get('per_part', {})}",
        "artimuse_release": _artimuse_release(admin),
    }


def _artimuse_release(admin: User | None) -> str:
    """The ArtiMuse standard's release (its own lineage), once its campaign's images are complete."""
    from annotation.models import Standard
    from annotation.standards import artimuse

    from .services.releases import release_preview

    if not Standard.objects.filter(key=artimuse.KEY).exists():
        return "skipped: the ArtiMuse standard is not seeded"
    release = Release.objects.filter(version=ARTIMUSE_VERSION).first()
    if release is None or release.status == Release.Status.FAILED:
        if not release_preview(standard_key=artimuse.KEY)["per_part"]:
            return "skipped: no complete ArtiMuse images"
        release = release_create(
            version=ARTIMUSE_VERSION,
            standard_key=artimuse.KEY,
            created_by=admin,
            notes="Demo release of the ArtiMuse standard built by load_demo.",
            content_date=DEMO_CONTENT_DATE,
            test_fraction=ARTIMUSE_TEST_FRACTION,
            enqueue=False,
        )
        release = release_build(release_id=release.pk)
    return f"{release.version} {release.status} {release.counts.get('per_split', {})}"
