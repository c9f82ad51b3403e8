"""Reads of the collection/scoring app (querysets with their joins; no writes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from annotation.models import Dimension, Image, Standard, User

from .models import (
    AggregationRun,
    Campaign,
    ImageAggregate,
    Lease,
    PoolItem,
    RaterQuality,
    Rating,
    Skip,
    Submission,
)


def campaign_list(*, user: User) -> QuerySet[Campaign]:
    qs = Campaign.objects.select_related("standard").prefetch_related("volunteers")
    if user.is_platform_admin:
        return qs
    return qs.filter(volunteers=user, is_active=True)


def campaign_get(*, user: User, campaign_id: int) -> Campaign | None:
    return campaign_list(user=user).filter(pk=campaign_id).first()


def submission_list(
    *, user: User, status: str | None = None, campaign_id: int | None = None, mine: bool = False
) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("campaign", "submitter", "reviewer", "image")
    if mine or not user.is_platform_admin:
        qs = qs.filter(submitter=user)
    if status:
        qs = qs.filter(status=status)
    if campaign_id:
        qs = qs.filter(campaign_id=campaign_id)
    return qs.order_by("-created_at", "-id")


def submission_get(*, user: User, submission_id: int) -> Submission | None:
    return submission_list(user=user).filter(pk=submission_id).first()


def rater_session_progress(*, rater: User, hours: int = 12) -> dict[str, int]:
    """The rater's own counts. Hidden-gold answers count like ratings (nothing here tells them apart)."""
    from annotation.qualification import contract

    since = timezone.now() - timedelta(hours=hours)
    return {
        "rated_session": Rating.objects.filter(rater=rater, created_at__gte=since).count()
        + contract.hidden_gold_answered_count(rater=rater, since=since),
        "rated_total": Rating.objects.filter(rater=rater).count()
        + contract.hidden_gold_answered_count(rater=rater),
    }


def rater_pool_counts() -> dict[int, tuple[int, int]]:
    """Per rater: (pool ratings, pool skips), skips of gold images left out (the skip monitor's baseline)."""
    rated = dict(
        Rating.objects.order_by().values("rater_id").annotate(c=Count("id")).values_list("rater_id", "c")
    )
    skipped = dict(
        Skip.objects.filter(image__gold_item__isnull=True)
        .order_by()
        .values("rater_id")
        .annotate(c=Count("id"))
        .values_list("rater_id", "c")
    )
    return {r: (rated.get(r, 0), skipped.get(r, 0)) for r in set(rated) | set(skipped)}


def rater_holding() -> dict[int, str]:
    """Per rater: the image of the lease they hold (pending, not skipped)."""
    return dict(Lease.objects.values_list("rater_id", "image_id"))


def rater_gold_skip_rows() -> list:
    """Hidden gold served / answered / skipped per rater with the pool skip rate beside it (admins only)."""
    from annotation.qualification import contract

    return contract.hidden_gold_skip_rows(pool_counts=rater_pool_counts(), holding=rater_holding())


def scoring_page_standard(*, rater: User, key: str | None = None) -> Standard:
    """The standard the scoring page renders: ``key`` when it names a standard (the page reloads itself with
    the key of a served item of another standard), else the standard of the rater's leased pool item, else
    the default standard."""
    from annotation.selectors import default_standard

    if key and (standard := Standard.objects.filter(key=key).first()) is not None:
        return standard
    lease = Lease.objects.filter(rater=rater).select_related("pool_item__standard").first()
    if lease is not None and lease.pool_item is not None:
        return lease.pool_item.standard
    return default_standard()


def scoring_progress(*, standard: Standard | None = None, days: int = 14) -> dict[str, Any]:
    """Images by number of ratings, completion over time, skip counts."""
    items = PoolItem.objects.all()
    if standard is not None:
        items = items.filter(standard=standard)
    histogram = {
        row["ratings_done"]: row["c"]
        for row in items.order_by().values("ratings_done").annotate(c=Count("id"))
    }
    total = sum(histogram.values())
    complete = items.filter(completed_at__isnull=False).count()
    since = timezone.now() - timedelta(days=days)
    ratings_by_hour = list(
        Rating.objects.filter(created_at__gte=since)
        .annotate(h=TruncHour("created_at"))
        .order_by()
        .values("h")
        .annotate(c=Count("id"))
        .order_by("h")
    )
    completed_by_hour = list(
        items.filter(completed_at__gte=since)
        .annotate(h=TruncHour("completed_at"))
        .order_by()
        .values("h")
        .annotate(c=Count("id"))
        .order_by("h")
    )
    return {
        "images": total,
        "complete": complete,
        "ratings": Rating.objects.count(),
        "histogram": [{"ratings": k, "images": histogram[k]} for k in sorted(histogram)],
        "ratings_by_hour": [{"hour": r["h"].isoformat(), "count": r["c"]} for r in ratings_by_hour],
        "completed_by_hour": [{"hour": r["h"].isoformat(), "count": r["c"]} for r in completed_by_hour],
        "skips": {
            r["reason"]: r["c"] for r in Skip.objects.order_by().values("reason").annotate(c=Count("id"))
        },
    }


def pool_item_list(
    *, complete: bool | None = None, campaign_id: int | None = None, image_prefix: str = ""
) -> QuerySet[PoolItem]:
    """Pool items with their image's aggregate and campaign (latest completed first), for the admin list."""
    qs = PoolItem.objects.select_related("image", "image__aggregate", "campaign").order_by(
        "-completed_at", "-id"
    )
    if complete is True:
        qs = qs.filter(completed_at__isnull=False)
    elif complete is False:
        qs = qs.filter(completed_at__isnull=True)
    if campaign_id:
        qs = qs.filter(campaign_id=campaign_id)
    if image_prefix:
        qs = qs.filter(image__sha256__startswith=image_prefix.lower())
    return qs


def pool_items_with_aggregates(*, complete: bool | None = None, limit: int = 200) -> list[PoolItem]:
    return list(pool_item_list(complete=complete)[:limit])


def image_aggregate_get(*, sha256: str) -> ImageAggregate | None:
    return ImageAggregate.objects.select_related("standard").filter(image_id=sha256).first()


def rater_quality_list(*, standard: Standard | None = None) -> QuerySet[RaterQuality]:
    qs = RaterQuality.objects.select_related("rater", "standard")
    if standard is not None:
        qs = qs.filter(standard=standard)
    return qs.order_by("rater__username")


def rater_screening_flags(
    *, rater_ids: list[int], standard: Standard | None = None
) -> dict[int, dict[str, Any]]:
    """Raters the latest re-aggregation flagged (straight-lining, random clicking, noisy, low agreement), with
    the pattern and the reasons: for hidden-gold follow-up and the rater-quality page. Unflagged raters are
    absent."""
    qs = RaterQuality.objects.filter(rater_id__in=rater_ids, flagged=True)
    if standard is not None:
        qs = qs.filter(standard=standard)
    return {
        q.rater_id: {"pattern": (q.screening or {}).get("pattern"), "reasons": list(q.flags)}
        for q in qs.only("rater_id", "screening", "flags")
    }


def aggregation_run_latest(*, standard: Standard | None = None) -> AggregationRun | None:
    qs = AggregationRun.objects.all()
    if standard is not None:
        qs = qs.filter(standard=standard)
    return qs.order_by("-created_at", "-id").first()


def level_examples_by_dimension(*, standard: Standard) -> dict[str, dict[str, list[str]]]:
    """Chosen example images of the standard: ``{dimension key: {level: [image sha256, ...]}}``."""
    from .models import LevelExample

    out: dict[str, dict[str, list[str]]] = {}
    from annotation.qualification.contract import gold_image_shas

    rows = (
        LevelExample.objects.filter(dimension__standard=standard)
        .exclude(image_id__in=gold_image_shas())  # chosen before it entered the gold bank: never shown
        .order_by("dimension__order", "created_at", "id")
        .values_list("dimension__key", "level", "image_id")
    )
    for key, level, sha in rows:
        out.setdefault(key, {}).setdefault(level, []).append(sha)
    return out


def level_centre(*, standard: Standard, level: str) -> float:
    """The middle of ``level``'s fifth of the standard's score range (0.1, 0.3, … on [0, 1])."""
    from annotation.standards.humanbeauty import LEVELS

    i = LEVELS.index(level)
    return standard.score_min + (i + 0.5) / len(LEVELS) * (standard.score_max - standard.score_min)


def level_example_list(*, standard: Standard, dimension: Dimension | None = None) -> QuerySet:
    """Chosen examples of a standard (or one dimension), each with its MOS on its dimension."""
    from .models import LevelExample

    qs = LevelExample.objects.filter(dimension__standard=standard).select_related("dimension", "chosen_by")
    if dimension is not None:
        qs = qs.filter(dimension=dimension)
    return qs.order_by("dimension__order", "created_at", "id")


def image_mos_on(*, dimension: Dimension, shas: list[str]) -> dict[str, float | None]:
    """MOS of each image on ``dimension`` (``None`` where the dimension has no MOS)."""
    rows = ImageAggregate.objects.filter(image_id__in=shas, standard_id=dimension.standard_id).values_list(
        "image_id", "mos"
    )
    return {sha: (mos[dimension.order] if len(mos) > dimension.order else None) for sha, mos in rows}


def level_example_suggestions(*, dimension: Dimension, level: str, limit: int = 12) -> list[dict[str, Any]]:
    """Eligible images for an example of ``level`` on ``dimension``, closest MOS to the level's centre first.

    Eligible: completed pool items of the standard with an aggregate, never a gold image (any gold item,
    active or retired) and not already an example of this level. Ranked in the database (the MOS list's
    element at the dimension's position, ``|MOS - centre|``), so a large pool costs one indexed query."""
    from django.db.models import F, FloatField, Value
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Abs, Cast

    from annotation.qualification.contract import gold_image_shas

    from .models import LevelExample

    centre = level_centre(standard=dimension.standard, level=level)
    mos = Cast(KeyTextTransform(str(dimension.order), "mos"), FloatField())
    chosen = LevelExample.objects.filter(dimension=dimension, level=level).values("image_id")
    rows = (
        ImageAggregate.objects.filter(
            standard_id=dimension.standard_id,
            image__pool_item__completed_at__isnull=False,
        )
        .exclude(image__provenance=Image.Provenance.GOLD)
        .exclude(image_id__in=gold_image_shas())
        .exclude(image_id__in=chosen)
        .annotate(value=mos)
        .filter(value__isnull=False)
        .annotate(distance=Abs(F("value") - Value(centre)))
        .order_by("distance", "image_id")
        .values_list("image_id", "value", "distance")[:limit]
    )
    half = (dimension.standard.score_max - dimension.standard.score_min) / 10
    return [
        {"image": sha, "mos": value, "distance": distance, "in_level": distance <= half + 1e-9}
        for sha, value, distance in rows
    ]
