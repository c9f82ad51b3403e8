"""End to end: certified raters score collected images through the real queue, the real aggregation runs,
and the published release holds only images at the standard's minimum, the raw ratings, a card whose
figures come from those ratings, and a split with test images in every part and source."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from annotation.models import Image, Standard, User
from annotation.services.images import image_ingest
from curation.models import Release, ReleaseMember
from curation.services.releases import release_create, release_preview
from tests.conftest import jpeg_bytes

from .conftest import SCUT_SCORES, write_scut
from .factories import public_source

pytestmark = pytest.mark.django_db

N_RATERS = 12


def _rate_everything(raters: list[User], rng: np.random.Generator) -> int:
    """Each rater in turn asks the queue for an image and rates it, until the queue has nothing left."""
    from annotation.scoring.services.queue import next_image
    from annotation.scoring.services.ratings import rating_submit
    from annotation.standards.humanbeauty import DIMENSION_KEYS

    quality: dict[str, np.ndarray] = {}
    bias = {r.pk: rng.normal(0, 0.05) for r in raters}
    n = 0
    while True:
        progress = False
        for rater in raters:
            item = next_image(rater=rater)
            if item is None:
                continue
            base = quality.setdefault(item.image.sha256, rng.uniform(0.2, 0.9, 12))
            values = np.clip(base + bias[rater.pk] + rng.normal(0, 0.04, 12), 0, 1)
            scores = {k: round(float(v), 3) for k, v in zip(DIMENSION_KEYS, values, strict=True)}
            rating_submit(rater=rater, image_sha256=item.image.sha256, scores=scores, dwell_ms=7000 + n)
            n += 1
            progress = True
        if not progress:
            return n


def test_ratings_through_queue_and_aggregation_to_a_published_release(
    tmp_path, admin_user, django_capture_on_commit_callbacks
):
    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.scoring.models import PoolItem, Rating
    from annotation.scoring.services.collection import campaign_create
    from annotation.scoring.services.pool import pool_add

    public_source(write_scut(tmp_path / "scut", SCUT_SCORES))  # 58K part: one public source
    standard = Standard.objects.get(key="humanbeauty-v1")
    raters = []
    for k in range(N_RATERS):
        user = User.objects.create_user(username=f"e2e-rater{k}", password="x", role=User.Role.VOLUNTEER)
        volunteer_certify_by_admin(user=user, admin=admin_user, reason="e2e")
        raters.append(user)
    campaign = campaign_create(created_by=admin_user, name="e2e", principles="p", target_count=20)
    assert campaign.ratings_target == 9
    images = []
    for i in range(12):
        image, _ = image_ingest(data=jpeg_bytes(60, 80, seed=500 + i), provenance=Image.Provenance.COLLECTED)
        pool_add(image=image, standard=standard, campaign=campaign)
        images.append(image)
    # an image put in the pool by hand with a target below the standard's minimum: it completes at 5
    low, _ = image_ingest(data=jpeg_bytes(60, 80, seed=999), provenance=Image.Provenance.COLLECTED)
    pool_add(image=low, standard=standard, target=5)

    with django_capture_on_commit_callbacks(execute=True):  # completion runs after each commit, as a task
        n = _rate_everything(raters, np.random.default_rng(0))
    assert n == 12 * 9 + 5
    assert PoolItem.objects.filter(completed_at__isnull=False).count() == 13

    preview = release_preview()
    assert preview["changed"] and preview["below_minimum"] == 1 and preview["per_part"]["50K"] == 12
    with django_capture_on_commit_callbacks(execute=True):
        release = release_create(version="1.0.0", created_by=admin_user)
    release.refresh_from_db()
    assert release.status == Release.Status.PUBLISHED, release.error
    out = Path(release.path)

    # >= 9: the low-target image is left out, every released image has 9 ratings
    members = ReleaseMember.objects.filter(release=release, part="50K")
    assert members.count() == 12 and not members.filter(image=low).exists()
    assert set(members.values_list("n_ratings", flat=True)) == {9}
    assert release.spec["aggregation"]["below_minimum_left_out"] == 1
    m = members.first()
    assert m.psi is not None and m.dims == [min(1.0, max(0.0, v)) for v in m.psi]  # psi from the real run

    # the raw table: one row per rating of the released images, pseudonymous raters, named scores
    with (out / "ratings/ratings.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 * 9
    assert {r["image_id"] for r in rows} == {i.sha256 for i in images}
    db = Rating.objects.filter(image__in=images)
    assert sorted(float(r["overall"]) for r in rows) == pytest.approx(sorted(x.scores[11] for x in db))
    user_ids = {str(u.pk) for u in raters} | {u.username for u in raters}
    pseudonyms = {r["rater"] for r in rows}
    assert len(pseudonyms) == N_RATERS and not (pseudonyms & user_ids)
    assert all(p.startswith("r") and len(p) == 17 for p in pseudonyms)
    assert {r["campaign"] for r in rows} == {str(campaign.pk)} and all(r["day"] for r in rows)
    with (out / "ratings/raters.csv").open() as fh:
        raters_rows = list(csv.DictReader(fh))
    assert {r["rater"] for r in raters_rows} == pseudonyms
    assert all(r["overall_bias"] != "" and r["overall_inconsistency"] != "" for r in raters_rows)
    # re-aggregating the raw table reproduces the published plain MOS
    with (out / "scores.csv").open() as fh:
        scores = {r["image_id"]: r for r in csv.DictReader(fh)}
    for iid in list(scores)[:3]:
        if scores[iid]["part"] != "50K":
            continue
        mean = np.mean([float(r["looks"]) for r in rows if r["image_id"] == iid])
        assert float(scores[iid]["looks_mos"]) == pytest.approx(mean, abs=5e-7)  # published to 6 decimals

    # the card: computed figures, not the paper's
    facts = json.loads((out / "release.json").read_text())["facts"]
    assert facts["ratings"]["n_raters"] == N_RATERS and facts["ratings"]["n_ratings"] == 108
    assert facts["ratings"]["ratings_per_image"] == {"min": 9, "median": 9.0, "max": 9}
    assert facts["qualification"]["certified_by"] == {"admin override": N_RATERS}
    card = (out / "README.md").read_text()
    assert f"{N_RATERS} distinct certified raters contributed 108 ratings" in card
    assert "min 9, median 9.0, max 9" in card and "368" not in card
    rel = facts["ratings"]["reliability"]["overall"]
    assert rel["split_half_srcc"] is not None and f"{rel['split_half_srcc']:.3f}" in card

    # the split: every part and source has test images
    for part, d in facts["images_per_part_split"].items():
        assert d["test"] >= 1 and d["train"] >= 1, part
    assert all(d["test"] >= 1 for d in facts["images_per_source_split"].values())
