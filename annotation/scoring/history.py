"""Reads for the scoring workspace: the rater's own recent ratings (editable within the amend window) and
their progress toward the session goal and the campaigns they rate for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from annotation.models import Dimension, User

from .models import PoolItem, Rating
from .services.amend import amend_window

# A working session ends after this long without a rating; the next rating starts a new one.
SESSION_GAP = timedelta(minutes=30)


def session_goal() -> int:
    """Images per working session the page counts toward (a pace suggestion, not a limit)."""
    return int(getattr(settings, "HB_SCORING_SESSION_GOAL", 20))


def rater_history(*, rater: User, limit: int = 8) -> list[dict[str, Any]]:
    """The rater's most recent ratings, newest first, each with its scores by dimension key and whether
    (and until when) it can still be changed."""
    now = timezone.now()
    window = amend_window()
    rows = list(Rating.objects.filter(rater=rater).order_by("-created_at", "-id")[:limit])
    keys: dict[int, list[str]] = {}
    out = []
    for r in rows:
        if r.standard_id not in keys:
            keys[r.standard_id] = list(
                Dimension.objects.filter(standard_id=r.standard_id)
                .order_by("order")
                .values_list("key", flat=True)
            )
        until = r.created_at + window
        out.append(
            {
                "id": r.pk,
                "image": r.image_id,
                "thumb_url": f"/api/images/{r.image_id}/thumb/",
                "image_url": f"/api/images/{r.image_id}/file/",
                "scores": dict(zip(keys[r.standard_id], r.scores, strict=False)),
                "created_at": r.created_at,
                "amendable_until": until,
                "amendable": now <= until,
            }
        )
    return out


def rater_session_count(*, rater: User, now: Any = None) -> int:
    """Ratings in the current working session: the run of ratings with no gap longer than SESSION_GAP,
    ending now (0 if the last rating is older than the gap). Counts stored rows, so a reload never
    changes it."""
    now = now or timezone.now()
    times = list(
        Rating.objects.filter(rater=rater, created_at__gte=now - timedelta(hours=12))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
    )
    count, previous = 0, now
    for t in times:
        if previous - t > SESSION_GAP:
            break
        count += 1
        previous = t
    return count


def rater_workspace_progress(*, rater: User) -> dict[str, Any]:
    """Session count and goal, the rater's total, and the campaigns' completion (images complete / in pool)."""
    pool = PoolItem.objects.filter(Q(campaign__isnull=True) | Q(campaign__is_active=True)).aggregate(
        total=Count("id"), complete=Count("id", filter=Q(completed_at__isnull=False))
    )
    return {
        "session": rater_session_count(rater=rater),
        "session_goal": session_goal(),
        "total": Rating.objects.filter(rater=rater).count(),
        "pool_total": pool["total"],
        "pool_complete": pool["complete"],
        "amend_window_s": int(amend_window().total_seconds()),
    }
