"""Demo state of collection and scoring (idempotent; runs after the qualification demo, which certifies
volunteer1..volunteer8): a campaign collected by volunteer8, its demo-person images checked and mostly
approved into the pool, a non-human image that failed the face check, one submission awaiting review, and
ratings through the real queue by every certified demo volunteer but the collector (volunteer1..7 and
volunteer13..18, 13 raters): all but two images complete at the standard's 9 ratings, two stay in progress.
Everything goes through the services, like real traffic; the campaign uses the production k = 9 (+3, cap 15)."""

from __future__ import annotations

from typing import Any

import numpy as np

from annotation.models import Image, User
from annotation.selectors import default_standard

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
    items = PoolItem.objects.filter(campaign=campaign)
    return {
        "aggregation_run": run.pk,
        "campaign": campaign.pk,
        "submissions": Submission.objects.filter(campaign=campaign).count(),
        "failed": Submission.objects.filter(campaign=campaign, status=Submission.Status.FAILED).count(),
        "pool": items.count(),
        "complete": items.filter(completed_at__isnull=False).count(),
        "ratings_created": rated,
        "gold_skipper": skipper,
        "hidden_gold_monitor": monitor,
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


GOLD_SKIPPER = "volunteer7"
LEFT_UNRATED = 5  # open images nobody has rated yet, for the tour's raters


def _gold_skipper_summary() -> str:
    """volunteer7 scores pool items through the real queue like the others but skips every hidden-gold item
    it is served (``_simulate_ratings``); the monitor then flags it on the rater-quality page."""
    skipped = Skip.objects.filter(
        rater__username=GOLD_SKIPPER, image__provenance=Image.Provenance.GOLD, reason=Skip.Reason.SKIP
    ).count()
    return f"{GOLD_SKIPPER} skipped {skipped} hidden gold items"
