"""Adding images to the scoring pool."""

from __future__ import annotations

from annotation.models import Image, Standard

from ..models import Campaign, PoolItem


def pool_add(
    *,
    image: Image,
    standard: Standard,
    campaign: Campaign | None = None,
    target: int | None = None,
    priority: float = 0.0,
) -> tuple[PoolItem, bool]:
    """Put ``image`` in the pool (idempotent: an image is in the pool at most once)."""
    if target is None:
        target = campaign.ratings_target if campaign is not None else 9
    item, created = PoolItem.objects.get_or_create(
        image=image,
        defaults={"standard": standard, "campaign": campaign, "target": target, "priority": priority},
    )
    return item, created


def pool_set_priority(*, priorities: dict[str, float]) -> int:
    """Hook for model pre-scores (Modeling issue): reorder open items; never shown to raters."""
    changed = 0
    for sha, value in priorities.items():
        changed += PoolItem.objects.filter(image_id=sha).update(priority=float(value))
    return changed
