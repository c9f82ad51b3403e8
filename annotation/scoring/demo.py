"""Demo state of collection and scoring (idempotent; runs after the qualification demo, which certifies
volunteer1..volunteer8): a campaign collected by volunteer8, its demo-person images checked and mostly
approved into the pool, a non-human image that failed the face check, one submission awaiting review, and
ratings through the real queue by every certified demo volunteer but the collector (volunteer1..7 and
volunteer13..18, 13 raters): all but two images complete at the standard's 9 ratings, two stay in progress.
Everything goes through the services, like real traffic; the campaign uses the production k = 9 (+3, cap 15).

A second standard runs first, on its own images and raters (so the HumanBeauty demo above is unchanged):
ArtiMuse's 8 attributes (seeded as data), a campaign of four generated artworks at its 3 ratings, and three
raters certified for it (artimuse1..3, an inactive protocol of that standard: no hidden gold) who score
every image through the real queue, a comment per attribute, to completion; then its re-aggregation."""

from __future__ import annotations

from typing import Any

import numpy as np

from annotation.models import Image, Standard, User
from annotation.selectors import default_standard
from annotation.standards.humanbeauty import LEVELS

from .models import Campaign, PoolItem, Rating, Skip, Submission
from .services.aggregation import scoring_reaggregate
from .services.collection import (
    campaign_create,
    campaign_set_volunteers,
    submission_import_library_image,
    submission_review,
)
from .services.gold_monitor import hidden_gold_monitor_run
from .services.queue import lease_skip, next_image
from .services.ratings import rating_submit

CAMPAIGN = "Demo: full-body street portraits"
PRINCIPLES = "\n".join(
    [
        "One main person; others, if any, clearly smaller",
        "Face and most of the body visible (not a head-only portrait)",
        "You hold the licence, and the person consented",
        "No watermarks, collages or heavy filters",
    ]
)


def _certified(user: User) -> bool:
    from annotation.qualification.contract import rater_is_certified

    return rater_is_certified(rater=user)


def demo_load() -> dict[str, Any]:
    admin = User.objects.filter(username="admin").first()
    collector = User.objects.filter(username="volunteer8").first()
    if admin is None or collector is None or not _certified(collector):
        return {"skipped": "needs the core and qualification demo (certified volunteer8)"}
    artimuse = artimuse_demo_load(admin=admin)
    standard = default_standard()
    campaign = Campaign.objects.filter(name=CAMPAIGN).first()
    if campaign is None:
        campaign = campaign_create(
            created_by=admin,
            volunteers=[collector],
            name=CAMPAIGN,
            principles=PRINCIPLES,
            target_count=50,
            standard=standard,
            ratings_target=standard.min_ratings,
            ratings_step=3,
            ratings_cap=15,
        )
    # Every certified demo volunteer collects for the campaign (the README tour signs in as volunteer1).
    team = [
        u
        for u in User.objects.filter(role=User.Role.VOLUNTEER, username__startswith="volunteer").order_by(
            "pk"
        )
        if _certified(u)
    ]
    campaign_set_volunteers(campaign=campaign, volunteers=sorted({*team, collector}, key=lambda u: u.pk))
    people = list(
        Image.objects.filter(provenance=Image.Provenance.DEMO, source="demo-person").order_by("sha256")
    )
    others = list(
        Image.objects.filter(provenance=Image.Provenance.DEMO, source="demo-nonhuman").order_by("sha256")[:1]
    )
    for i, image in enumerate([*people, *others]):
        sub = submission_import_library_image(
            campaign=campaign,
            submitter=collector,
            image=image,
            source_url=f"https://example.org/demo/{image.source_ref or i}",
        )
        if sub.status == Submission.Status.PASSED and i < max(len(people) - 1, 1):
            submission_review(
                submission=sub, reviewer=admin, approve=True, reason=""
            )  # last one awaits review
    rated = 0
    if not Rating.objects.filter(pool_item__campaign=campaign).exists():
        rated = _simulate_ratings(campaign)
    skipper = _gold_skipper_summary()
    monitor = hidden_gold_monitor_run()  # what beat runs every minute in deployment
    # ψ with its CI per image, rater screening and SUREAL's convergence on the rater-quality page
    run = scoring_reaggregate(standard=standard, workers=1)
    examples = _choose_level_examples(standard=standard, admin=admin)
    items = PoolItem.objects.filter(campaign=campaign)
    return {
        "level_examples": examples,
        "aggregation_run": run.pk,
        "campaign": campaign.pk,
        "submissions": Submission.objects.filter(campaign=campaign).count(),
        "failed": Submission.objects.filter(campaign=campaign, status=Submission.Status.FAILED).count(),
        "pool": items.count(),
        "complete": items.filter(completed_at__isnull=False).count(),
        "ratings_created": rated,
        "gold_skipper": skipper,
        "hidden_gold_monitor": monitor,
        "artimuse": artimuse,
    }


def _simulate_ratings(campaign: Campaign) -> int:
    """The certified raters (all but the collector) take turns through the real queue, each rating with a
    personal bias and noise around a per-image quality, until only ``LEFT_UNRATED`` images have no rating
    (the queue serves the most-rated open image first, so images complete one after the other: the rest are
    complete but one in progress). The unrated ones are the work a newcomer's raters find on /score/."""
    from annotation.qualification.models import GoldItem
    from annotation.qualification.services import monitoring
    from annotation.standards.humanbeauty import DIMENSION_KEYS

    rng = np.random.default_rng(7)
    monitoring._random.seed(5)  # which queue requests get hidden gold: the same demo every time
    names = [f"volunteer{i}" for i in (*range(1, 8), *range(13, 19))]
    raters = [u for u in User.objects.filter(username__in=names).order_by("username") if _certified(u)]
    bias = {r.pk: rng.normal(0.0, 0.04) for r in raters}
    items = PoolItem.objects.filter(campaign=campaign)
    quality: dict[str, np.ndarray] = {}
    created = 0
    for _round in range(40):
        progress = False
        for rater in raters:
            if items.filter(ratings_done=0).count() <= LEFT_UNRATED:
                return created
            for _attempt in range(3):
                item = next_image(rater=rater)
                if item is None:
                    break
                base = quality.setdefault(item.image.sha256, rng.uniform(0.35, 0.8, size=len(DIMENSION_KEYS)))
                noisy = np.clip(base + bias[rater.pk] + rng.normal(0.0, 0.05, size=base.size), 0, 1)
                scores = {k: round(float(v), 2) for k, v in zip(DIMENSION_KEYS, noisy, strict=True)}
                if item.image.provenance == Image.Provenance.GOLD:  # hidden gold mixed in: answer it too
                    if rater.username == GOLD_SKIPPER:  # ... except the demo's gold skipper (the script
                        lease_skip(rater=rater, reason=Skip.Reason.SKIP)  # knows; the rater could not)
                        continue
                    # certified raters answer gold close to the experts (else the monitor would suspend them)
                    expert = GoldItem.objects.get(image_id=item.image.sha256).expert_mean
                    near = np.clip([float(expert[k]) for k in DIMENSION_KEYS] + rng.normal(0, 0.04, 12), 0, 1)
                    answer = {k: round(float(v), 2) for k, v in zip(DIMENSION_KEYS, near, strict=True)}
                    rating_submit(rater=rater, image_sha256=item.image.sha256, scores=answer, dwell_ms=9000)
                    continue
                if item.image.provenance not in (Image.Provenance.DEMO, Image.Provenance.COLLECTED):
                    lease_skip(rater=rater)
                    continue
                receipt = rating_submit(
                    rater=rater,
                    image_sha256=item.image.sha256,
                    scores=scores,
                    dwell_ms=int(rng.integers(6000, 30000)),
                )
                created += int(receipt.created)
                progress = True
                break
        if not progress:
            break
    return created


EXAMPLES_PER_LEVEL = 2


def _choose_level_examples(*, standard: Standard, admin: User) -> int:
    """What an admin does on /scoring/examples/: per dimension and level, the best suggestions whose MOS lies
    inside the level (up to two), so a newcomer on /score/ sees the strip. Idempotent (kept once chosen)."""
    from annotation.models import Dimension

    from .models import LevelExample
    from .selectors import level_example_suggestions
    from .services.examples import level_example_add

    if LevelExample.objects.filter(dimension__standard=standard).exists():
        return LevelExample.objects.filter(dimension__standard=standard).count()
    added = 0
    for dimension in Dimension.objects.filter(standard=standard).select_related("standard").order_by("order"):
        for level in LEVELS:
            for row in level_example_suggestions(dimension=dimension, level=level, limit=EXAMPLES_PER_LEVEL):
                if row["in_level"]:
                    image = Image.objects.get(pk=row["image"])
                    level_example_add(dimension=dimension, level=level, image=image, chosen_by=admin)
                    added += 1
    return added


GOLD_SKIPPER = "volunteer7"
LEFT_UNRATED = 5  # open images nobody has rated yet, for the tour's raters


def _gold_skipper_summary() -> str:
    """volunteer7 scores pool items through the real queue like the others but skips every hidden-gold item
    it is served (``_simulate_ratings``); the monitor then flags it on the rater-quality page."""
    skipped = Skip.objects.filter(
        rater__username=GOLD_SKIPPER, image__provenance=Image.Provenance.GOLD, reason=Skip.Reason.SKIP
    ).count()
    return f"{GOLD_SKIPPER} skipped {skipped} hidden gold items"


# ------------------------------------------------------------------------------------ a second standard

ARTIMUSE_CAMPAIGN = "Demo: ArtiMuse artworks"
ARTIMUSE_RATERS = ("artimuse1", "artimuse2", "artimuse3")
ARTIMUSE_IMAGES = 4


def _artworks(n: int) -> list[bytes]:
    """``n`` generated abstract "artworks" (seeded: the same bytes every run): colour fields, discs, stripes."""
    import io

    from PIL import Image as PILImage

    rng = np.random.default_rng(11)
    out = []
    yy, xx = np.mgrid[0:360, 0:480].astype(np.float32)
    for k in range(n):
        base = rng.uniform(40, 220, size=3)
        tilt = rng.uniform(-1, 1, size=2)
        canvas = base + (xx[..., None] * tilt[0] + yy[..., None] * tilt[1]) * rng.uniform(0.1, 0.3, size=3)
        for _ in range(3 + k):
            cx, cy, r = rng.uniform(60, 420), rng.uniform(60, 300), rng.uniform(20, 90)
            disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
            canvas[disc] = rng.uniform(0, 255, size=3)
        if k % 2:
            canvas[::24] = canvas[::24] * 0.4
        buf = io.BytesIO()
        PILImage.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def _artimuse_raters(*, admin: User, standard: Any) -> list[User]:
    """The ArtiMuse demo raters, enrolled in an (inactive) protocol of that standard and certified by admin."""
    from annotation.demo import DEMO_PASSWORD
    from annotation.qualification.models import Protocol
    from annotation.qualification.services.protocols import enrollment_invite_user, protocol_create
    from annotation.qualification.services.states import volunteer_certify_by_admin

    protocol = Protocol.objects.filter(standard=standard).order_by("pk").first() or protocol_create(
        standard=standard, created_by=admin, name="ArtiMuse raters (demo)", cohort="demo", is_active=False
    )
    raters = []
    for username in ARTIMUSE_RATERS:
        user, created = User.objects.get_or_create(username=username, defaults={"role": User.Role.VOLUNTEER})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            enrollment_invite_user(user=user, protocol=protocol, actor=admin)
        volunteer_certify_by_admin(user=user, admin=admin, reason="demo: ArtiMuse rater")
        raters.append(user)
    return raters


def artimuse_demo_load(*, admin: User) -> dict[str, Any]:
    """ArtiMuse's standard end to end on the scoring side (idempotent): campaign, pool, ratings with a
    comment per attribute through the real queue until every image is complete, re-aggregation."""
    from annotation.models import Standard
    from annotation.services.images import image_ingest
    from annotation.standards import artimuse

    standard = Standard.objects.filter(key=artimuse.KEY).first()
    if standard is None:
        return {"skipped": "the ArtiMuse standard is not seeded"}
    campaign = Campaign.objects.filter(name=ARTIMUSE_CAMPAIGN).first()
    if campaign is None:
        campaign = campaign_create(
            created_by=admin,
            name=ARTIMUSE_CAMPAIGN,
            principles="One artwork or photograph per image\nYou hold the licence",
            target_count=ARTIMUSE_IMAGES,
            standard=standard,
            ratings_target=standard.min_ratings,
            ratings_step=1,
            ratings_cap=standard.min_ratings,  # the demo has exactly min_ratings raters: no top-up
            is_active=False,  # collection closed: the pool is what was curated
        )
    from .services.pool import pool_add

    for k, data in enumerate(_artworks(ARTIMUSE_IMAGES)):
        image, _ = image_ingest(
            data=data,
            provenance=Image.Provenance.COLLECTED,
            source="demo-artimuse",
            source_ref=f"artwork-{k}",
            uploaded_by=admin,
        )
        pool_add(image=image, standard=standard, campaign=campaign)
    raters = _artimuse_raters(admin=admin, standard=standard)
    created = 0
    if not Rating.objects.filter(pool_item__campaign=campaign).exists():
        created = _artimuse_ratings(raters, campaign)
    run = scoring_reaggregate(standard=standard, workers=1)
    items = PoolItem.objects.filter(campaign=campaign)
    return {
        "campaign": campaign.pk,
        "pool": items.count(),
        "complete": items.filter(completed_at__isnull=False).count(),
        "ratings_created": created,
        "aggregation_run": run.pk,
    }


def _artimuse_ratings(raters: list[User], campaign: Campaign) -> int:
    """Each rater asks the real queue for images until it has none left, scoring every attribute around a
    per-image quality with a short comment each (required by the standard)."""
    from .services.ratings import _dimensions, pool_item_complete_by_id

    rng = np.random.default_rng(13)
    dims = _dimensions(campaign.standard_id)
    words = ("weak", "plain", "fair", "good", "striking")
    quality: dict[str, np.ndarray] = {}
    created = 0
    for rater in raters:
        while (item := next_image(rater=rater)) is not None:
            if item.standard.pk != campaign.standard_id:  # another standard's image: not this rater's work
                lease_skip(rater=rater)
                continue
            base = quality.setdefault(item.image.sha256, rng.uniform(0.3, 0.85, size=len(dims)))
            noisy = np.clip(base + rng.normal(0.0, 0.06, size=base.size), 0, 1)
            # The comprehensive evaluation (the root) follows the attributes, as a rater's would.
            roots = [i for i, d in enumerate(dims) if d.parent_id is None]
            noisy[roots] = np.clip(
                np.delete(noisy, roots).mean() + rng.normal(0.0, 0.03, size=len(roots)), 0, 1
            )
            scores = {d.key: round(float(v), 2) for d, v in zip(dims, noisy, strict=True)}
            comments = {
                d.key: f"{d.name}: {words[min(4, int(scores[d.key] * 5))]} in this piece." for d in dims
            }
            receipt = rating_submit(
                rater=rater, image_sha256=item.image.sha256, scores=scores, comments=comments, dwell_ms=20000
            )
            created += int(receipt.created)
            # Completion runs after commit as a task; run it now (the demo has no worker).
            pool_item_complete_by_id(pool_item_id=PoolItem.objects.get(image=item.image).pk)
    return created
