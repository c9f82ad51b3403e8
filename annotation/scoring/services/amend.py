"""A rater amends their own recent rating (the workspace's "history": a slip of the key is fixed in place).

Rule: only the rater's own rating, only within ``amend_window_s`` of when it was first submitted (the
window is stated on the page and in the API), with the same validation as a first submission. If the image
already has aggregates (it reached its target), they are recomputed from the raw ratings so MOS/SD/CI never
disagree with what is stored. The target and the completion flag are not revisited: an amendment changes
values, not how many ratings the image has.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import User
from humanbeauty.errors import ConflictError, NotFoundError

from ..models import ImageAggregate, Rating
from .ratings import (
    RatingReceipt,
    _dimensions,
    _receipt,
    _round,
    _validate,
    image_aggregate_recompute,
    standard_cached,
)


def amend_window() -> timedelta:
    """How long after submitting a rater may still change a rating (default 10 minutes)."""
    return timedelta(seconds=int(getattr(settings, "HB_SCORING_AMEND_WINDOW_S", 600)))


def rating_amendable_until(rating: Rating) -> Any:
    return rating.created_at + amend_window()


def rating_amend(*, rater: User, rating_id: int, scores: Any, comments: Any = None) -> RatingReceipt:
    """Replace the scores of ``rater``'s rating ``rating_id`` (404 if it is not theirs, 409 once the window
    has passed). Returns the stored rating; ``created`` is False."""
    with transaction.atomic():
        rating = (
            Rating.objects.select_for_update()
            .select_related("pool_item")
            .filter(pk=rating_id, rater=rater)
            .first()
        )
        if rating is None:
            raise NotFoundError("No such rating of yours.")
        until = rating_amendable_until(rating)
        if timezone.now() > until:
            minutes = int(amend_window().total_seconds() // 60)
            raise ConflictError(
                f"A rating can be changed for {minutes} minutes after it was submitted; this one is closed.",
                extra={"amendable_until": until.isoformat()},
            )
        dims = _dimensions(rating.standard_id)
        # Without new comments the stored ones stand (and still satisfy a standard that requires them).
        kept = comments if comments is not None else rating.comments
        cleaned, clean_comments = _validate(dims, standard_cached(rating.standard_id), scores, kept)
        rating.scores = _round(cleaned)
        rating.comments = clean_comments
        rating.save(update_fields=["scores", "comments"])
        if ImageAggregate.objects.filter(image_id=rating.image_id).exists():
            image_aggregate_recompute(pool_item=rating.pool_item)
    return _receipt(rating, dims, created=False)
